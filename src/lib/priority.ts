/**
 * The one parser of priorities and priority scores, shared by the API, forms, bulk actions,
 * filters and uploads.
 *
 * Priority: a whole number from -2147483648 to 2147483647 (lower is served first).
 * Score: a number from 0 to 1 with at most 9 decimals (higher first), kept as exact decimal text.
 * A JSON number arrives as a double: its shortest text (what JavaScript prints, e.g. `1.23e-7`) is
 * the decimal the client wrote, so exponent notation is expanded digit by digit, never through
 * floating point.
 */
export const PRIORITY_MIN = -2147483648;
export const PRIORITY_MAX = 2147483647;
export const SCORE_DECIMALS = 9;
export const PRIORITY_RULE = `a whole number from ${PRIORITY_MIN} to ${PRIORITY_MAX}`;
export const SCORE_RULE = `a number from 0 to 1 with at most ${SCORE_DECIMALS} decimals`;

const INTEGER = /^[+-]?\d{1,10}$/;
const DECIMAL = /^\+?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/;

/** A priority from a number or text, or null when it is not one. */
export function parsePriority(value: unknown): number | null {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && INTEGER.test(value.trim())) n = Number(value.trim());
  else return null;
  return Number.isInteger(n) && n >= PRIORITY_MIN && n <= PRIORITY_MAX ? n : null;
}

/** A score from a number or text as exact decimal text ("0.000000123", "1", "0.5"), or null when it is not one. */
export function parsePriorityScore(value: unknown): string | null {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    text = String(value);
  } else if (typeof value === 'string') text = value.trim();
  else return null;
  const match = DECIMAL.exec(text);
  if (!match || (match[1] === '' && (match[2] ?? '') === '')) return null;
  // digits and where the decimal point goes, shifted by the exponent
  const digits = match[1] + (match[2] ?? '');
  const point = match[1].length + Number(match[3] ?? 0);
  const whole = (point <= 0 ? '0' : digits.slice(0, point).padEnd(point, '0')).replace(/^0+(?=\d)/, '');
  const fraction = (point < 0 ? '0'.repeat(-point) + digits : digits.slice(Math.max(point, 0))).replace(/0+$/, '');
  if (fraction.length > SCORE_DECIMALS) return null;
  if (whole !== '0' && !(whole === '1' && fraction === '')) return null;
  return fraction ? `${whole}.${fraction}` : whole;
}
