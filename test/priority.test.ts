import { describe, expect, it } from 'vitest';
import { parsePriority, parsePriorityScore } from '../src/lib/priority.ts';

describe('the one PriorityScore parser', () => {
  it.each([
    ['0.000000001', '0.000000001'], [0.000000001, '0.000000001'], ['1e-9', '0.000000001'], [1e-9, '0.000000001'],
    [0.000000123, '0.000000123'], ['0.000000123', '0.000000123'], ['1.23e-7', '0.000000123'],
    [0.5, '0.5'], ['0.5', '0.5'], ['.5', '0.5'], ['0.50', '0.5'], [1, '1'], ['1', '1'], ['1.0', '1'], ['1.000000000', '1'],
    [0, '0'], ['0', '0'], ['0.0', '0'], ['  0.25 ', '0.25'], ['5e-1', '0.5'], ['0.123456789', '0.123456789'],
  ])('accepts %j as %s', (input, expected) => expect(parsePriorityScore(input)).toBe(expected));

  it.each([
    [1.0000000001], ['1.0000000001'], ['0.1234567891'], [0.1234567891], ['1.5'], [2], ['-0.1'], [-0.1], ['abc'], [''], ['.'],
    ['1e-10'], [Number.NaN], [Number.POSITIVE_INFINITY], ['0x1'], [null], [true], ['1e400'],
  ])('refuses %j', (input) => expect(parsePriorityScore(input)).toBeNull());
});

describe('the one Priority parser', () => {
  it.each([[0, 0], ['7', 7], [' -3 ', -3], [-2147483648, -2147483648], ['2147483647', 2147483647]])('accepts %j', (input, expected) => expect(parsePriority(input)).toBe(expected));
  it.each([[2147483648], ['-2147483649'], [1.5], ['1.5'], ['1e3'], [''], ['x'], [null], [Number.NaN]])('refuses %j', (input) => expect(parsePriority(input)).toBeNull());
});
