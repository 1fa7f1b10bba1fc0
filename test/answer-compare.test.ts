import { describe, expect, it } from 'vitest';
import { compareAnswers, compareValues, leafPaths, pairAgreement } from '../src/modules/answers/answer-compare.ts';
import type { OutputField, OutputFieldType } from '../src/modules/projects/project.entity.ts';

type Row = [type: OutputFieldType | null, a: unknown, b: unknown, expected: number | null, why: string];

/** A table of answer pairs and the agreement each must give (SPEC §5, issue 6). */
const pairs: Row[] = [
  // boolean: exact, common spellings accepted
  ['boolean', true, true, 1, 'equal booleans'],
  ['boolean', true, false, 0, 'different booleans'],
  ['boolean', 'true', true, 1, 'CSV text "true" is true'],
  ['boolean', 'No', false, 1, '"No" is false'],
  ['boolean', 1, 'yes', 1, '1 and "yes" are both true'],
  ['boolean', 'maybe', 'maybe', 1, 'equal unrecognised values'],
  ['boolean', 'maybe', false, 0, 'unrecognised vs false'],
  // choice: exact
  ['choice', 'cat', 'cat', 1, 'same option'],
  ['choice', 'cat', 'dog', 0, 'other option'],
  ['choice', 'Cat', 'cat', 0, 'case matters for options'],
  ['choice', 3, '3', 1, 'a number and its text'],
  // number: within 1e-6 relative (absolute below 1)
  ['number', 1.5, 1.5, 1, 'equal numbers'],
  ['number', 0.1 + 0.2, 0.3, 1, 'floating-point noise'],
  ['number', 1_000_000, 1_000_000.5, 1, 'relative tolerance at 1e6 (0.5 ≤ 1.0000005)'],
  ['number', 1_000_000, 1_000_002, 0, 'beyond the relative tolerance'],
  ['number', 0, 1e-7, 1, 'absolute tolerance near zero'],
  ['number', 0, 1e-5, 0, 'beyond the absolute tolerance near zero'],
  ['number', '2.50', 2.5, 1, 'numeric text'],
  ['number', 2, 3, 0, 'different numbers'],
  ['number', 'n/a', 'n/a', 1, 'equal non-numeric text'],
  ['number', 'n/a', 0, 0, 'non-numeric vs number'],
  // multi_choice: Jaccard
  ['multi_choice', ['a', 'b'], ['b', 'a'], 1, 'order does not matter'],
  ['multi_choice', ['a', 'b'], ['b', 'c'], 1 / 3, '1 common of 3'],
  ['multi_choice', ['a', 'b', 'c', 'd'], ['a', 'b', 'c'], 3 / 4, '3 common of 4'],
  ['multi_choice', ['a'], ['b'], 0, 'disjoint'],
  ['multi_choice', [], [], 1, 'two empty selections agree'],
  ['multi_choice', [], ['a'], 0, 'empty vs one option'],
  ['multi_choice', '["a","b"]', ['a'], 1 / 2, 'JSON array text'],
  ['multi_choice', 'a', ['a'], 1, 'a single value is one option'],
  ['multi_choice', ['a', 'a'], ['a'], 1, 'duplicates count once'],
  // text: Dice over lowercase word-token sets
  ['text', 'The cat sat', 'the cat sat.', 1, 'case and punctuation ignored'],
  ['text', 'a red car', 'a blue car', 2 / 3, '2 common tokens of 3 + 3'],
  ['text', 'hello world', 'goodbye moon', 0, 'no common token'],
  ['text', 'one two three four', 'one two', 2 / 3, '2·2 / (4 + 2)'],
  ['text', 'Straße über', 'strasse ÜBER', 1 / 2, 'unicode letters, lowercased'],
  ['text', 'x x x y', 'x y', 1, 'repeated tokens count once'],
  ['text', '!!!', '!!!', 1, 'no tokens, same text'],
  ['text', '!!!', '???', 0, 'no tokens, different text'],
  ['text', '!!!', 'word', 0, 'no tokens vs tokens'],
  // json: equal leaf paths over the union of leaf paths
  ['json', { a: 1, b: { c: 2 } }, { b: { c: 2 }, a: 1 }, 1, 'key order does not matter'],
  ['json', { a: 1, b: 2 }, { a: 1, b: 3 }, 1 / 2, 'one of two leaves differs'],
  ['json', { a: 1, b: 2 }, { a: 1, c: 2 }, 1 / 3, 'paths a, b, c; only a equal'],
  ['json', [1, 2, 3], [1, 2, 4], 2 / 3, 'arrays by index'],
  ['json', [1, 2], [1, 2, 3], 2 / 3, 'an extra array item'],
  ['json', { boxes: [{ x: 1, y: 2 }] }, '{"boxes":[{"x":1,"y":5}]}', 1 / 2, 'JSON text is parsed'],
  ['json', {}, {}, 1, 'empty objects are equal leaves'],
  ['json', {}, [], 0, 'empty object vs empty array'],
  ['json', { a: {} }, { a: { b: 1 } }, 0, 'empty object leaf vs nested leaf'],
  ['json', 5, 5, 1, 'equal scalars'],
  ['json', 5, '5', 0, 'JSON keeps number and string apart'],
  // keys outside the schema compare as JSON
  [null, 'x', 'x', 1, 'extra key, equal'],
  [null, { k: 1 }, { k: 2 }, 0, 'extra key, different'],
  // missing values, every type
  ['boolean', undefined, undefined, null, 'both missing: excluded'],
  ['text', null, '  ', null, 'null and blank are both missing'],
  ['boolean', false, undefined, 0, 'false is a value; missing vs present is 0'],
  ['number', 0, null, 0, '0 is a value'],
  ['choice', undefined, 'cat', 0, 'missing vs present'],
  ['multi_choice', [], undefined, 0, 'an empty selection is a value'],
  ['json', null, { a: 1 }, 0, 'missing vs object'],
];

describe('agreement of two answers, by field type', () => {
  it.each(pairs)('%s: %j vs %j → %s (%s)', (type, a, b, expected) => {
    const got = pairAgreement(type, a, b);
    if (expected === null) expect(got).toBeNull();
    else expect(got).toBeCloseTo(expected, 12);
    // symmetric
    const back = pairAgreement(type, b, a);
    if (expected === null) expect(back).toBeNull();
    else expect(back).toBeCloseTo(expected, 12);
  });
});

describe('agreement of more than two answers', () => {
  const table: [OutputFieldType, unknown[], number | null, number, boolean[], string][] = [
    // type, values, agreement, reference index, differs, why
    ['choice', ['cat', 'dog', 'dog'], 1 / 3, 1, [true, false, false], 'the majority is the reference'],
    ['choice', ['cat', 'dog'], 0, 0, [false, true], 'a tie goes to the first set'],
    ['boolean', [true, true, true], 1, 0, [false, false, false], 'all agree'],
    ['multi_choice', [['a', 'b'], ['a'], ['a', 'b']], (1 / 2 + 1 + 1 / 2) / 3, 0, [false, true, false], 'mean of the three pairs'],
    ['number', [1, undefined, 1], 1 / 3, 0, [false, true, false], 'missing vs present counts 0 in both pairs'],
    ['text', [undefined, undefined, 'hi'], 0, 0, [false, false, true], 'both-missing pair is left out; two missing agree for the reference'],
    ['json', [undefined, null, undefined], null, 0, [false, false, false], 'every set misses the field'],
    ['number', [10, 10.000001, 11, 10], (1 + 0 + 1 + 0 + 1 + 0) / 6, 0, [false, false, true, false], 'four sets: six pairs'],
  ];
  it.each(table)('%s %j → %s', (type, values, agreement, reference, differs) => {
    const result = compareValues(type, values);
    if (agreement === null) expect(result.agreement).toBeNull();
    else expect(result.agreement).toBeCloseTo(agreement, 12);
    expect(result.reference).toBe(reference);
    expect(result.differs).toEqual(differs);
  });
});

describe('comparing whole answer sets', () => {
  const schema: OutputField[] = [
    { name: 'pedestrian', type: 'boolean' },
    { name: 'label', type: 'choice', options: ['car', 'bus'] },
    { name: 'speed', type: 'number' },
    { name: 'hazards', type: 'multi_choice', options: ['glare', 'debris', 'animal'] },
    { name: 'notes', type: 'text' },
    { name: 'boxes', type: 'json' },
  ];

  it('lists schema fields in schema order, then extra keys alphabetically, with an overall mean', () => {
    const result = compareAnswers(schema, [
      { pedestrian: true, label: 'car', speed: 30, hazards: ['glare'], notes: 'wet road', boxes: { x: 1 }, zeta: 1, alpha: 'a' },
      { pedestrian: true, label: 'bus', speed: '30.0000001', hazards: ['glare', 'debris'], notes: 'Wet road!', boxes: { x: 2 } },
    ]);
    expect(result.fields.map((f) => [f.name, f.type, f.method])).toEqual([
      ['pedestrian', 'boolean', 'exact'],
      ['label', 'choice', 'exact'],
      ['speed', 'number', 'tolerance'],
      ['hazards', 'multi_choice', 'jaccard'],
      ['notes', 'text', 'token_dice'],
      ['boxes', 'json', 'json_paths'],
      ['alpha', null, 'json_paths'],
      ['zeta', null, 'json_paths'],
    ]);
    expect(result.fields.map((f) => f.agreement)).toEqual([1, 0, 1, 0.5, 1, 0, 0, 0]);
    expect(result.overall).toBeCloseTo(3.5 / 8, 12);
    expect(result.fields[1].differs).toEqual([false, true]);
    expect(result.fields[6].missing).toEqual([false, true]);
  });

  it('leaves fields nobody answered out of the overall figure', () => {
    const result = compareAnswers(schema, [{ pedestrian: true }, { pedestrian: false, notes: '' }]);
    expect(result.fields.find((f) => f.name === 'notes')?.agreement).toBeNull();
    expect(result.fields.find((f) => f.name === 'pedestrian')?.agreement).toBe(0);
    expect(result.overall).toBe(0);
    expect(compareAnswers(schema, [{}, {}]).overall).toBeNull();
  });

  it('does not take an own property for an inherited one', () => {
    const result = compareAnswers([{ name: 'toString', type: 'text' }], [{}, { toString: 'x' }]);
    expect(result.fields[0].values).toEqual([undefined, 'x']);
    expect(result.fields[0].agreement).toBe(0);
  });

  it('names JSON leaves by JSON Pointer', () => {
    expect([...leafPaths({ 'a/b': { '~': [1, {}] } }).entries()]).toEqual([
      ['/a~1b/~0/0', '1'],
      ['/a~1b/~0/1', '{}'],
    ]);
  });
});
