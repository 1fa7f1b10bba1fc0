/**
 * Formula cells in CSV files Tasklane writes, and their way back in.
 *
 * A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, TAB or CR as a formula, so every
 * CSV download (exports, archives, failed rows) writes such text with a leading apostrophe. The
 * upload format removes one leading apostrophe before those characters, so a downloaded archive
 * uploads again as exactly the same values. Text that already starts with apostrophes before such
 * a character gets one more, which keeps the round trip lossless. Numbers are written as numbers
 * and left alone. The SQL function `csv_safe` (exports) applies the same rule.
 */
const FORMULA = /^'*[=+\-@\t\r]/;

export function csvSafe(text: string): string {
  return FORMULA.test(text) ? `'${text}` : text;
}

export function csvUnescape(text: string): string {
  return text.startsWith("'") && FORMULA.test(text) ? text.slice(1) : text;
}
