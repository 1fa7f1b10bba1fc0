import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse';

/**
 * Reading an uploaded file as a stream of rows (SPEC §6): CSV with a header row, a JSON array,
 * or JSON Lines. Memory stays bounded by the largest single row (MAX_RECORD_CHARS).
 */

export type UploadFormat = 'csv' | 'json' | 'jsonl' | 'items';

/** The whole file cannot be read: the upload ends `failed` with this message. */
export class FileProblem extends Error {}

/** One row as read from the file, before validation. */
export interface SourceRow {
  /** CSV: n-th record after the header; JSON array: n-th element; JSONL: line number */
  row: number;
  /** CSV fields as read (for the failed-rows download) */
  fields?: string[];
  /** JSON: the parsed element */
  object?: unknown;
  /** JSON: the element's text */
  text?: string;
  /** The row could not be read; `fatal`: nothing after it can be read either. */
  error?: { message: string; fatal?: boolean };
}

export interface OpenedFile {
  format: 'csv' | 'json' | 'jsonl';
  /** CSV header (names as in the file) */
  header?: string[];
  rows: AsyncGenerator<SourceRow>;
}

export const MAX_RECORD_CHARS = 32 * 1024 * 1024;
const SNIFF_BYTES = 64 * 1024;
const PARSE_SLICE_BYTES = 64 * 1024;

/** Text of the byte stream, UTF-8 (a BOM is dropped; invalid bytes become U+FFFD, found per row). */
async function* decode(chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  for await (const chunk of chunks) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

/** Puts back the bytes already looked at in front of the rest of the stream. */
async function* prepend(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  for (const b of head) yield b;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

function looksBinary(head: Buffer): boolean {
  const sample = head.subarray(0, 8192);
  if (sample.includes(0)) return true;
  const text = new TextDecoder('utf-8').decode(sample);
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0xfffd || (c < 32 && c !== 9 && c !== 10 && c !== 13)) bad++;
  }
  // a truncated multi-byte character at the end of the sample is not a sign of binary data
  return text.length > 0 && bad > 4 && bad / text.length > 0.05;
}

function extension(fileName: string): string {
  const m = /\.([a-z0-9]+)$/i.exec(fileName);
  return m ? m[1].toLowerCase() : '';
}

/** Decides the format from the extension and the first bytes; opens the row stream. */
export async function openFile(chunks: AsyncIterable<Buffer>, fileName: string): Promise<OpenedFile> {
  const iterator = chunks[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  while (headBytes < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    headBytes += next.value.length;
  }
  const headBuf = Buffer.concat(head);
  if (headBuf.length === 0) throw new FileProblem('The file is empty.');
  if (looksBinary(headBuf)) {
    throw new FileProblem('The file is not text: upload a UTF-8 CSV, JSON or JSON Lines file.');
  }
  const headText = new TextDecoder('utf-8').decode(headBuf).replace(/^\uFEFF/, '');
  const firstChar = headText.trimStart().charAt(0);
  if (firstChar === '') throw new FileProblem('The file is empty (it holds only white space).');

  const ext = extension(fileName);
  let format: OpenedFile['format'];
  if (ext === 'jsonl' || ext === 'ndjson') format = 'jsonl';
  else if (ext === 'json') {
    if (firstChar === '[') format = 'json';
    else if (firstChar === '{' && isJsonLines(headText)) format = 'jsonl';
    else {
      const what = firstChar === '{' ? 'an object' : 'a single value';
      throw new FileProblem(`A JSON upload must be an array of task objects ([{…}, {…}]), but this file holds ${what}. Use JSON Lines (.jsonl) for one object per line.`);
    }
  } else if (ext === 'csv' || ext === 'txt') format = 'csv';
  else format = firstChar === '[' ? 'json' : firstChar === '{' ? 'jsonl' : 'csv';

  const bytes = prepend(head, iterator);
  // csv-parse works on bytes and decodes each field itself: no decoded copy of the whole text
  if (format === 'csv') return openCsv(bytes);
  const text = decode(bytes);
  return { format, rows: format === 'json' ? jsonArrayRows(text) : jsonLineRows(text) };
}

/** A .json file whose first line is a whole object, followed by another object line. */
function isJsonLines(headText: string): boolean {
  const lines = headText.trimStart().split('\n');
  if (lines.length < 2) return false;
  try {
    const first = JSON.parse(lines[0]);
    return typeof first === 'object' && first !== null && !Array.isArray(first) && lines[1].trimStart().startsWith('{');
  } catch {
    return false;
  }
}

/**
 * The parser turns each piece it is given into records at once: fed in small slices, it holds a
 * few hundred parsed records at a time instead of the thousands of a whole stored chunk.
 */
async function* slices(chunks: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += size) yield chunk.subarray(at, at + size);
  }
}

async function openCsv(bytes: AsyncGenerator<Buffer>): Promise<OpenedFile> {
  // the first parse error ends reading; it is kept with its position (records emitted before it)
  // instead of erroring the stream, which would drop records already parsed
  let emitted = 0;
  let failure: { after: number; err: unknown } | null = null;
  const parser = parseCsv({
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_CHARS,
    skip_records_with_error: true,
    on_record: (record: string[]) => (failure ? null : (emitted++, record)),
    on_skip: (err: unknown) => {
      failure ??= { after: emitted, err };
    },
  });
  const source = Readable.from(slices(bytes, PARSE_SLICE_BYTES), { objectMode: false });
  source.on('error', (err) => parser.destroy(err));
  source.pipe(parser);
  const records = parser[Symbol.asyncIterator]() as AsyncIterator<string[]>;
  const first = await records.next();
  if (first.done) {
    source.destroy();
    if (failure) throw new FileProblem(`The CSV header cannot be read: ${csvMessage((failure as { err: unknown }).err)}`);
    throw new FileProblem('The file is empty.');
  }
  const header = first.value.map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw new FileProblem(`Column ${i + 1} of the header has no name.`);
    if (name.includes('\uFFFD')) throw new FileProblem('The header is not valid UTF-8 text: save the file as UTF-8.');
    if (seen.has(name)) throw new FileProblem(`The column “${name}” appears twice in the header.`);
    seen.add(name);
  });
  async function* rows(): AsyncGenerator<SourceRow> {
    let row = 0;
    try {
      for (;;) {
        const next = await records.next();
        if (next.done) break;
        row++;
        yield { row, fields: next.value };
      }
      if (failure) {
        yield { row: row + 1, error: { message: `${csvMessage((failure as { err: unknown }).err)}; the rest of the file could not be read`, fatal: true } };
      }
    } finally {
      source.destroy();
      parser.destroy();
    }
  }
  return { format: 'csv', header, rows: rows() };
}

function csvMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted value is never closed (unterminated quote)';
    case 'CSV_MAX_RECORD_SIZE':
      return `a row is larger than ${MAX_RECORD_CHARS / 1024 / 1024} MB (often an unterminated quote)`;
    default:
      return (e.message ?? 'unreadable CSV').replace(/\s+/g, ' ').slice(0, 300);
  }
}

function parseElement(row: number, text: string): SourceRow {
  try {
    return { row, object: JSON.parse(text), text };
  } catch (err) {
    return { row, text, error: { message: `Not valid JSON: ${(err as Error).message.slice(0, 200)}` } };
  }
}

/** Elements of a top-level JSON array, one at a time (a small scanner finds where each ends). */
async function* jsonArrayRows(text: AsyncGenerator<string>): AsyncGenerator<SourceRow> {
  let buf = '';
  let pos = 0;
  let state: 'start' | 'between' | 'element' | 'end' = 'start';
  let afterElement = false;
  let start = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let row = 0;
  let sawEnd = false;

  for await (const chunk of text) {
    // keep only the unfinished element (or nothing) from the text seen so far
    if (state === 'element') {
      buf = buf.slice(start) + chunk;
      pos -= start;
      start = 0;
    } else {
      buf = buf.slice(pos) + chunk;
      pos = 0;
    }
    while (pos < buf.length) {
      const c = buf.charCodeAt(pos);
      if (state === 'element') {
        if (inString) {
          if (escaped) escaped = false;
          else if (c === 92 /* \ */) escaped = true;
          else if (c === 34 /* " */) {
            inString = false;
            if (depth === 0) {
              row++;
              yield parseElement(row, buf.slice(start, pos + 1));
              state = 'between';
              afterElement = true;
            }
          }
        } else if (c === 34) inString = true;
        else if (c === 123 || c === 91) depth++;
        else if (c === 125 || c === 93) {
          if (depth === 0) {
            // a bare value ended by the array's closing bracket
            row++;
            yield parseElement(row, buf.slice(start, pos).trim());
            state = 'end';
            sawEnd = true;
          } else {
            depth--;
            if (depth === 0) {
              row++;
              yield parseElement(row, buf.slice(start, pos + 1));
              state = 'between';
              afterElement = true;
            }
          }
        } else if (depth === 0 && (c === 44 /* , */ || c <= 32)) {
          row++;
          yield parseElement(row, buf.slice(start, pos).trim());
          state = 'between';
          afterElement = c !== 44; // a comma ending the value is consumed here
        }
        if (state === 'element' && pos - start > MAX_RECORD_CHARS) {
          yield { row: row + 1, error: { message: `Row ${row + 1} is larger than ${MAX_RECORD_CHARS / 1024 / 1024} MB; the rest of the file could not be read`, fatal: true } };
          return;
        }
        pos++;
        continue;
      }
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 0xfeff) {
        pos++;
        continue;
      }
      if (state === 'start') {
        if (c !== 91) throw new FileProblem('A JSON upload must be an array of task objects ([{…}, {…}]).');
        state = 'between';
        afterElement = false;
      } else if (state === 'between') {
        if (c === 44 && afterElement) afterElement = false;
        else if (c === 93) {
          state = 'end';
          sawEnd = true;
        } else if (c === 44) {
          yield { row: row + 1, error: { message: 'An empty element (two commas in a row) in the JSON array; the rest of the file could not be read', fatal: true } };
          return;
        } else {
          state = 'element';
          start = pos;
          depth = 0;
          inString = false;
          escaped = false;
          if (c === 123 || c === 91) depth = 1;
          else if (c === 34) inString = true;
        }
      } else {
        yield { row: row + 1, error: { message: 'Unexpected text after the end of the JSON array', fatal: true } };
        return;
      }
      pos++;
    }
  }
  if (state === 'start') throw new FileProblem('The file is empty.');
  if (state === 'element' && depth === 0 && !inString && buf.slice(start).trim()) {
    row++;
    yield parseElement(row, buf.slice(start).trim());
  } else if (state === 'element' || !sawEnd) {
    yield { row: row + 1, error: { message: 'The JSON array is not closed (the file ends in the middle of it); the rest of the file could not be read', fatal: true } };
  }
}

/** One JSON object per line; blank lines are skipped; the row number is the line number. */
async function* jsonLineRows(text: AsyncGenerator<string>): AsyncGenerator<SourceRow> {
  let carry = '';
  let line = 0;
  let skipping = false;
  for await (const chunk of text) {
    let from = 0;
    let data = carry + chunk;
    carry = '';
    for (;;) {
      const nl = data.indexOf('\n', from);
      if (nl < 0) break;
      line++;
      if (skipping) skipping = false;
      else {
        const lineText = data.slice(from, nl).replace(/\r$/, '').replace(/^\uFEFF/, '');
        if (lineText.trim() !== '') yield parseElement(line, lineText);
      }
      from = nl + 1;
    }
    data = data.slice(from);
    if (data.length > MAX_RECORD_CHARS) {
      if (!skipping) yield { row: line + 1, error: { message: `Line ${line + 1} is larger than ${MAX_RECORD_CHARS / 1024 / 1024} MB` } };
      skipping = true;
      data = '';
    }
    carry = data;
  }
  if (!skipping && carry.trim() !== '') {
    line++;
    yield parseElement(line, carry.replace(/\r$/, '').replace(/^\uFEFF/, ''));
  }
}
