/**
 * Comparing answer sets field by field (SPEC §5 "Compare answers"). Pure functions: no database, no
 * HTTP. The README section "Comparing answer sets" states the same rules for users.
 *
 * For one field, every pair of sets gets a similarity from 0 to 1 by the field's output type:
 * - `boolean`, `choice`: exact (1 or 0). Booleans accept true/false, "true"/"false", "yes"/"no", 1/0.
 * - `number`: 1 when |a − b| ≤ 1e-6 · max(1, |a|, |b|), else 0. Numeric strings count as numbers.
 * - `multi_choice`: Jaccard |A ∩ B| / |A ∪ B| of the chosen options; two empty selections agree (1).
 * - `text`: Dice 2|A ∩ B| / (|A| + |B|) of the sets of lowercase word tokens (letters and digits);
 *   texts without any word token agree only when their trimmed texts are equal.
 * - `json` (and keys the output schema does not list): the share of leaf paths with equal values
 *   over the union of the leaf paths of both values (a scalar is one leaf at the root; an empty
 *   object or array is a leaf of its own).
 * A value is missing when it is absent, null, or a string of only whitespace. Missing vs present
 * is 0; a pair where both are missing is left out. The field's agreement is the mean over the
 * remaining pairs (with two sets: the one pair), or undefined (null) when every set misses it.
 * The overall agreement is the mean of the field agreements that are defined.
 */
import type { OutputField, OutputFieldType } from '../projects/project.entity.ts';

/** Relative tolerance for numbers: |a − b| ≤ NUMBER_TOLERANCE · max(1, |a|, |b|). */
export const NUMBER_TOLERANCE = 1e-6;

export type CompareMethod = 'exact' | 'tolerance' | 'jaccard' | 'token_dice' | 'json_paths';

/** The rule used for each output type; keys outside the schema compare as JSON. */
export const METHOD_BY_TYPE: Record<OutputFieldType, CompareMethod> = {
  boolean: 'exact',
  choice: 'exact',
  number: 'tolerance',
  multi_choice: 'jaccard',
  text: 'token_dice',
  json: 'json_paths',
};

export const METHOD_LABELS: Record<CompareMethod, string> = {
  exact: 'exact match',
  tolerance: 'numeric, within tolerance',
  jaccard: 'Jaccard of options',
  token_dice: 'Dice of word tokens',
  json_paths: 'equal leaf paths',
};

export function isMissing(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** JSON text with object keys sorted: equal values give equal text whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A string holding a JSON object or array, parsed; otherwise the value itself. */
function structured(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return value;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return value;
  }
}

/** true/false for the usual spellings of a boolean; null when the value is something else. */
function booleanOf(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true' || text === 'yes' || text === '1') return true;
    if (text === 'false' || text === 'no' || text === '0') return false;
  }
  return null;
}

function numberOf(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.trim());
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

const scalarText = (value: unknown) => (typeof value === 'string' ? value : canonicalJson(value));

/** The chosen options: an array (or a JSON array text) as its items, a single value as one option. */
function optionSet(value: unknown): Set<string> {
  const v = structured(value);
  return new Set((Array.isArray(v) ? v : [v]).map(scalarText));
}

const TOKEN = /[\p{L}\p{N}]+/gu;

function tokenSet(value: unknown): Set<string> {
  return new Set(scalarText(value).toLowerCase().match(TOKEN) ?? []);
}

/** Leaf path (JSON Pointer) → canonical JSON of the leaf. Empty objects and arrays are leaves. */
export function leafPaths(value: unknown, prefix = '', into = new Map<string, string>()): Map<string, string> {
  const isArray = Array.isArray(value);
  if ((isArray || (typeof value === 'object' && value !== null)) && Object.keys(value as object).length > 0) {
    for (const [key, child] of Object.entries(value as object)) {
      leafPaths(child, `${prefix}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`, into);
    }
  } else {
    into.set(prefix, canonicalJson(value));
  }
  return into;
}

function intersectionSize<T>(a: Set<T>, b: Set<T>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n += 1;
  return n;
}

/** A value made ready for comparison once, then compared with every other set's value. */
type Prepared =
  | { missing: true }
  | { missing: false; kind: 'exact'; key: string }
  | { missing: false; kind: 'number'; n: number | null; key: string }
  | { missing: false; kind: 'set'; items: Set<string> }
  | { missing: false; kind: 'tokens'; tokens: Set<string>; text: string }
  | { missing: false; kind: 'paths'; paths: Map<string, string> };

export function prepare(type: OutputFieldType | null, value: unknown): Prepared {
  if (isMissing(value)) return { missing: true };
  switch (type) {
    case 'boolean': {
      const b = booleanOf(value);
      return { missing: false, kind: 'exact', key: b === null ? `other:${scalarText(value)}` : String(b) };
    }
    case 'choice':
      return { missing: false, kind: 'exact', key: scalarText(value) };
    case 'number':
      return { missing: false, kind: 'number', n: numberOf(value), key: scalarText(value) };
    case 'multi_choice':
      return { missing: false, kind: 'set', items: optionSet(value) };
    case 'text':
      return { missing: false, kind: 'tokens', tokens: tokenSet(value), text: scalarText(value).trim() };
    default:
      return { missing: false, kind: 'paths', paths: leafPaths(structured(value)) };
  }
}

/** Similarity of two prepared values of the same field: 0–1, or null when both are missing. */
export function similarity(a: Prepared, b: Prepared): number | null {
  if (a.missing || b.missing) return a.missing && b.missing ? null : 0;
  if (a.kind === 'exact' && b.kind === 'exact') return a.key === b.key ? 1 : 0;
  if (a.kind === 'number' && b.kind === 'number') {
    if (a.n === null || b.n === null) return a.key === b.key ? 1 : 0;
    return Math.abs(a.n - b.n) <= NUMBER_TOLERANCE * Math.max(1, Math.abs(a.n), Math.abs(b.n)) ? 1 : 0;
  }
  if (a.kind === 'set' && b.kind === 'set') {
    const common = intersectionSize(a.items, b.items);
    const union = a.items.size + b.items.size - common;
    return union === 0 ? 1 : common / union;
  }
  if (a.kind === 'tokens' && b.kind === 'tokens') {
    const total = a.tokens.size + b.tokens.size;
    if (a.tokens.size === 0 || b.tokens.size === 0) return total === 0 && a.text === b.text ? 1 : 0;
    return (2 * intersectionSize(a.tokens, b.tokens)) / total;
  }
  if (a.kind === 'paths' && b.kind === 'paths') {
    let equal = 0;
    for (const [path, leaf] of a.paths) if (b.paths.get(path) === leaf) equal += 1;
    let union = a.paths.size;
    for (const path of b.paths.keys()) if (!a.paths.has(path)) union += 1;
    return equal / union;
  }
  throw new Error('values of one field are prepared by one type');
}

/** The agreement of two values of a field of `type` (null when both are missing). */
export function pairAgreement(type: OutputFieldType | null, a: unknown, b: unknown): number | null {
  return similarity(prepare(type, a), prepare(type, b));
}

export interface FieldComparison {
  /** mean similarity over the pairs of sets that are not both missing; null when no such pair */
  agreement: number | null;
  /** how many pairs the mean is over */
  pairs: number;
  /**
   * Index of the reference value: the one most similar to all others (a pair of missing values
   * counts as equal here); ties go to the earliest. Cells are highlighted against it.
   */
  reference: number;
  /** per value: its similarity to the reference (1 for the reference itself and for missing vs missing) */
  toReference: number[];
  /** per value: it disagrees with the reference (similarity below 1) */
  differs: boolean[];
  missing: boolean[];
}

export function compareValues(type: OutputFieldType | null, values: unknown[]): FieldComparison {
  const prepared = values.map((v) => prepare(type, v));
  const n = prepared.length;
  // sim[i][j], with both-missing as 1 for the reference choice
  const sim: number[][] = prepared.map(() => new Array<number>(n).fill(1));
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      const s = similarity(prepared[i], prepared[j]);
      if (s !== null) {
        sum += s;
        pairs += 1;
      }
      sim[i][j] = sim[j][i] = s ?? 1;
    }
  }
  let reference = 0;
  let best = -1;
  sim.forEach((row, i) => {
    const score = row.reduce((acc, s, j) => (j === i ? acc : acc + s), 0);
    if (score > best + 1e-12) {
      best = score;
      reference = i;
    }
  });
  const toReference = n === 0 ? [] : sim[reference].slice();
  return {
    agreement: pairs === 0 ? null : sum / pairs,
    pairs,
    reference,
    toReference,
    differs: toReference.map((s) => s < 1),
    missing: prepared.map((p) => p.missing),
  };
}

export interface FieldResult extends FieldComparison {
  name: string;
  /** the output type, or null for a key the output schema does not list (compared as JSON) */
  type: OutputFieldType | null;
  method: CompareMethod;
  values: unknown[];
}

export interface AnswersComparison {
  fields: FieldResult[];
  /** mean of the defined field agreements; null when no field has one */
  overall: number | null;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Compares answer sets (in the given order) field by field: the output-schema fields in schema
 * order, then any other keys found in the answers, alphabetically.
 */
export function compareAnswers(schema: OutputField[], answerSets: Record<string, unknown>[]): AnswersComparison {
  const fields = Array.isArray(schema) ? schema : [];
  const listed = new Set(fields.map((f) => f.name));
  const extra = new Set<string>();
  for (const answers of answerSets) for (const key of Object.keys(answers ?? {})) if (!listed.has(key)) extra.add(key);
  const columns: [string, OutputFieldType | null][] = [
    ...fields.map((f): [string, OutputFieldType] => [f.name, f.type]),
    ...[...extra].sort(byName).map((k): [string, null] => [k, null]),
  ];

  const results = columns.map(([name, type]): FieldResult => {
    const values = answerSets.map((a) => (a && Object.hasOwn(a, name) ? a[name] : undefined));
    return { name, type, method: type ? METHOD_BY_TYPE[type] : 'json_paths', values, ...compareValues(type, values) };
  });
  const defined = results.map((r) => r.agreement).filter((a): a is number => a !== null);
  return { fields: results, overall: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null };
}
