import {
  INPUT_FIELD_TYPES,
  OUTPUT_FIELD_TYPES,
  type InputField,
  type InputFieldType,
  type OutputField,
  type OutputFieldType,
} from './project.entity.ts';

/** One editor row as submitted (or as shown): strings only, nothing validated yet. */
export interface InputRow {
  name: string;
  type: string;
  required: boolean;
}
export interface OutputRow {
  name: string;
  type: string;
  options: string;
}
/** Messages by row index, then by column (`name`, `type`, `options`). */
export type RowErrors = Record<number, Partial<Record<'name' | 'type' | 'options', string>>>;

export const MAX_ROWS = 500;
export const MAX_NAME_LENGTH = 64;
export const MAX_OPTIONS = 200;
export const MAX_OPTION_LENGTH = 200;

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Upload columns with a meaning of their own (SPEC §6). */
export const RESERVED_NAMES = ['name', 'priority', 'priority_score', 'client_batch_id', 'reserve_for'] as const;
export const RESERVED_PREFIXES = ['pre_assign.', 'metadata.', 'output_'] as const;

const ROW_KEY = /^(input|output)\[(\d{1,4})\]\[(name|type|required|options)\]$/;

/**
 * Reads the editor rows from a flat form body (`input[0][name]`, `output[2][options]`, …), in index
 * order. A repeated key (an array) is kept as its first value; unknown keys are ignored.
 */
export function readSchemaRows(body: unknown): { input: InputRow[]; output: OutputRow[] } {
  const input = new Map<number, InputRow>();
  const output = new Map<number, OutputRow>();
  for (const [key, value] of Object.entries((body ?? {}) as Record<string, unknown>)) {
    const match = ROW_KEY.exec(key);
    if (!match) continue;
    const index = Number(match[2]);
    if (index >= MAX_ROWS) continue;
    const text = String((Array.isArray(value) ? value[0] : value) ?? '');
    if (match[1] === 'input') {
      const row = input.get(index) ?? { name: '', type: '', required: false };
      if (match[3] === 'name') row.name = text;
      else if (match[3] === 'type') row.type = text;
      else if (match[3] === 'required') row.required = text !== '';
      input.set(index, row);
    } else {
      const row = output.get(index) ?? { name: '', type: '', options: '' };
      if (match[3] === 'name') row.name = text;
      else if (match[3] === 'type') row.type = text;
      else if (match[3] === 'options') row.options = text;
      output.set(index, row);
    }
  }
  const ordered = <T>(rows: Map<number, T>) => [...rows.entries()].sort((a, b) => a[0] - b[0]).map(([, row]) => row);
  return { input: ordered(input), output: ordered(output) };
}

export const inputRowsOf = (fields: InputField[]): InputRow[] => fields.map((f) => ({ name: f.name, type: f.type, required: f.required }));
export const outputRowsOf = (fields: OutputField[]): OutputRow[] =>
  fields.map((f) => ({ name: f.name, type: f.type, options: (f.options ?? []).join(', ') }));

/** Why a field name cannot be used, or null when it can. */
export function fieldNameProblem(name: string): string | null {
  const lower = name.toLowerCase();
  if ((RESERVED_NAMES as readonly string[]).includes(lower)) return `“${name}” is a reserved upload column`;
  const prefix = RESERVED_PREFIXES.find((p) => lower.startsWith(p));
  if (prefix) return `Names starting with “${prefix}” are reserved for upload columns`;
  if (name.length > MAX_NAME_LENGTH) return `Use at most ${MAX_NAME_LENGTH} characters`;
  if (!NAME_PATTERN.test(name)) return 'Use letters, digits and underscores, not starting with a digit';
  return null;
}

/** Rows with an empty name are ignored; every other row must be valid, and names unique (case-insensitively). */
function validateNames<R extends { name: string }>(rows: R[], errors: RowErrors): Array<{ row: R; index: number; name: string }> {
  const seen = new Set<string>();
  const kept: Array<{ row: R; index: number; name: string }> = [];
  rows.forEach((row, index) => {
    const name = row.name.trim();
    if (name === '') return;
    const problem = fieldNameProblem(name);
    if (problem) (errors[index] ??= {}).name = problem;
    else if (seen.has(name.toLowerCase())) (errors[index] ??= {}).name = `Another field is already called “${name}”`;
    seen.add(name.toLowerCase());
    kept.push({ row, index, name });
  });
  return kept;
}

export type SchemaResult<F> = { ok: true; fields: F[] } | { ok: false; errors: RowErrors };

export function validateInputRows(rows: InputRow[]): SchemaResult<InputField> {
  const errors: RowErrors = {};
  const fields: InputField[] = [];
  for (const { row, index, name } of validateNames(rows, errors)) {
    if (!(INPUT_FIELD_TYPES as readonly string[]).includes(row.type)) {
      (errors[index] ??= {}).type = 'Choose one of the listed types';
      continue;
    }
    fields.push({ name, type: row.type as InputFieldType, required: row.required });
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, fields };
}

export function parseOptions(text: string): string[] {
  return text
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
}

/** The editor's rows: options are one comma-separated text. */
export function validateOutputRows(rows: OutputRow[]): SchemaResult<OutputField> {
  return validateOutputFields(rows.map((row) => ({ ...row, options: parseOptions(row.options) })));
}

/** Output fields with their options as a list (the API), under the editor's rules. */
export function validateOutputFields(rows: Array<{ name: string; type: string; options: string[] }>): SchemaResult<OutputField> {
  const errors: RowErrors = {};
  const fields: OutputField[] = [];
  for (const { row, index, name } of validateNames(rows, errors)) {
    if (!(OUTPUT_FIELD_TYPES as readonly string[]).includes(row.type)) {
      (errors[index] ??= {}).type = 'Choose one of the listed types';
      continue;
    }
    const type = row.type as OutputFieldType;
    const options = row.options.map((o) => o.trim()).filter((o) => o !== '');
    const choice = type === 'choice' || type === 'multi_choice';
    let problem: string | null = null;
    if (choice && options.length === 0) problem = 'List the options, separated by commas';
    else if (!choice && options.length > 0) problem = 'Only choice and multi-choice fields have options: leave this empty';
    else if (options.length > MAX_OPTIONS) problem = `Use at most ${MAX_OPTIONS} options`;
    else if (options.some((o) => o.length > MAX_OPTION_LENGTH)) problem = `Keep each option to at most ${MAX_OPTION_LENGTH} characters`;
    else if (new Set(options).size !== options.length) problem = 'Each option may appear only once';
    // the schema page lists the options separated by commas
    else if (options.some((o) => o.includes(','))) problem = 'An option cannot contain a comma';
    if (problem) {
      (errors[index] ??= {}).options = problem;
      continue;
    }
    fields.push(choice ? { name, type, options } : { name, type });
  }
  return Object.keys(errors).length ? { ok: false, errors } : { ok: true, fields };
}
