import { csvUnescape } from '../../lib/csv-cells.ts';
import { parsePriority, parsePriorityScore, PRIORITY_RULE, SCORE_RULE } from '../../lib/priority.ts';
import type { InputField, OutputField } from '../projects/project.entity.ts';
import type { SourceRow } from './upload-formats.ts';

/**
 * Validation of one uploaded row against the project's input schema and SPEC §6, turning it into
 * the values of a new task. Pure functions: no database access (the context is loaded once per job).
 */

export const MAX_VALUE_CHARS = 1_000_000;
export const MAX_NAME_CHARS = 500;
export const MAX_BATCH_ID_CHARS = 200;
/** JSON values (inputs, metadata, default answers) may nest this deep, no deeper. */
export const MAX_JSON_DEPTH = 64;
const TOO_DEEP = `Nested deeper than ${MAX_JSON_DEPTH} levels, the limit for JSON values`;
const HAS_NUL = 'Contains a NUL character (\\u0000), which cannot be stored: remove it';
const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/;
const URL_SCHEMES = new Set(['http:', 'https:', 's3:', 'gs:']);

export interface UploadMember {
  userId: number;
  /** stage ids the member may work in; null = every stage */
  stageIds: Set<number> | null;
}
export interface UploadStage {
  id: number;
  name: string;
  kind: 'label' | 'review' | 'ground_truth';
}

export interface RowContext {
  uploadId: number;
  inputFields: InputField[];
  outputFields: OutputField[];
  stages: UploadStage[];
  /** project members by lower-case email */
  members: Map<string, UploadMember>;
  defaults: { priority: number | null; priorityScore: string | null; clientBatchId: string | null };
}

/** A row ready to become a task. */
export interface TaskRow {
  row: number;
  name: string;
  data: Record<string, unknown>;
  metadata: Record<string, string>;
  preAssign: Record<string, number>;
  priority: number;
  priorityScore: string | null;
  clientBatchId: string | null;
  answers: Record<string, unknown> | null;
  assigneeId: number | null;
  assignmentKind: 'reserved' | 'preassign' | null;
}

export interface FieldProblem {
  field: string | null;
  message: string;
}

export type RowResult = { ok: true; task: TaskRow } | { ok: false; problems: FieldProblem[] };

/** What a column or key means. */
type Column =
  | { kind: 'input'; field: InputField }
  | { kind: 'output'; field: OutputField; key: string }
  | { kind: 'name' | 'priority' | 'priority_score' | 'client_batch_id' | 'reserve_for' | 'ignore' }
  | { kind: 'pre_assign'; stage: string }
  | { kind: 'metadata'; key: string }
  | { kind: 'unknown' };

/** Reads rows of one upload. Column meanings are worked out once per key. */
export class RowValidator {
  private readonly inputs: Map<string, InputField>;
  private readonly outputs: Map<string, OutputField>;
  private readonly stages: Map<string, UploadStage>;
  private readonly label: UploadStage;
  private readonly columns = new Map<string, Column>();
  /** unknown keys of JSON rows, reported once each */
  readonly unknownKeys = new Set<string>();

  constructor(private readonly ctx: RowContext) {
    this.inputs = new Map(ctx.inputFields.map((f) => [f.name, f]));
    this.outputs = new Map(ctx.outputFields.map((f) => [f.name, f]));
    this.stages = new Map(ctx.stages.map((s) => [s.name.toLowerCase(), s]));
    this.label = ctx.stages.find((s) => s.kind === 'label') ?? ctx.stages[0];
  }

  column(key: string): Column {
    let column = this.columns.get(key);
    if (column) return column;
    if (this.inputs.has(key)) column = { kind: 'input', field: this.inputs.get(key)! };
    else if (key === 'name' || key === 'priority' || key === 'priority_score' || key === 'client_batch_id' || key === 'reserve_for') column = { kind: key };
    else if (key === 'error') column = { kind: 'ignore' }; // the error column of a failed-rows download
    else if (key.startsWith('pre_assign.')) column = { kind: 'pre_assign', stage: key.slice('pre_assign.'.length) };
    else if (key.startsWith('metadata.')) column = { kind: 'metadata', key: key.slice('metadata.'.length) };
    else if (key.startsWith('output_') && this.outputs.has(key.slice(7))) column = { kind: 'output', field: this.outputs.get(key.slice(7))!, key };
    else column = { kind: 'unknown' };
    this.columns.set(key, column);
    return column;
  }

  /** Header problems of a CSV file: missing required inputs fail the whole upload; unknown columns are reported. */
  checkHeader(header: string[]): { missing: string[]; unknown: string[] } {
    const present = new Set(header);
    const missing = this.ctx.inputFields.filter((f) => f.required && !present.has(f.name)).map((f) => f.name);
    const unknown = header.filter((h) => this.column(h).kind === 'unknown');
    return { missing, unknown };
  }

  /** A CSV record (fields in header order). */
  csvRow(source: SourceRow, header: string[]): RowResult {
    const fields = source.fields!;
    if (fields.length !== header.length) {
      return fail(null, `Expected ${header.length} columns as in the header, found ${fields.length}`);
    }
    const values: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const v = fields[i];
      if (v === '') continue;
      if (v.includes('\uFFFD')) return fail(header[i], 'Not valid UTF-8 text (save the file as UTF-8)');
      const problem = cellProblem(v);
      if (problem) return fail(header[i], problem);
      values[header[i]] = csvUnescape(v);
    }
    return this.build(source.row, values, true, false);
  }

  /** A JSON element: a flat object with the CSV keys, or a RedBrick item (`series` / `items`). */
  jsonRow(source: SourceRow): RowResult {
    if (source.text && source.text.includes('\uFFFD')) return fail(null, 'Not valid UTF-8 text (save the file as UTF-8)');
    const object = source.object;
    if (typeof object !== 'object' || object === null || Array.isArray(object)) {
      return fail(null, `Each row must be a JSON object, found ${Array.isArray(object) ? 'an array' : object === null ? 'null' : typeof object}`);
    }
    const item = object as Record<string, unknown>;
    for (const [key, value] of Object.entries(item)) {
      const problem = valueProblem(key) ?? valueProblem(value);
      if (problem) return fail(key, problem);
    }
    const isItem = Array.isArray(item.series) || Array.isArray(item.items);
    const values: Record<string, unknown> = {};
    const problems: FieldProblem[] = [];
    for (const [key, value] of Object.entries(item)) {
      if (value === null || value === undefined) continue;
      if (key === 'series' || key === 'items') {
        if (!isItem) continue;
        const problem = key === 'series' ? seriesProblem(value) : itemsProblem(value);
        if (problem) problems.push({ field: key, message: problem });
        else values[`\u0000${key}`] = value;
      } else if (key === 'metaData' || key === 'metadata') {
        if (typeof value !== 'object' || Array.isArray(value)) problems.push({ field: key, message: 'Must be an object of key → value' });
        else for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== null && v !== undefined) values[`metadata.${k}`] = v;
      } else if (key === 'preAssign' || key === 'pre_assign') {
        if (typeof value !== 'object' || Array.isArray(value)) problems.push({ field: key, message: 'Must be an object of stage name → email' });
        else for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== null && v !== undefined) values[`pre_assign.${k}`] = v;
      } else if (isItem && key === 'priority') {
        values.priority_score = value; // RedBrick's priority is the 0–1 score
      } else {
        values[key] = value;
      }
    }
    if (problems.length) return { ok: false, problems };
    return this.build(source.row, values, false, isItem);
  }

  private build(row: number, values: Record<string, unknown>, fromCsv: boolean, isItem: boolean): RowResult {
    const problems: FieldProblem[] = [];
    const data: Record<string, unknown> = {};
    const metadata: Record<string, string> = {};
    const preAssign: Record<string, number> = {};
    let answers: Record<string, unknown> | null = null;
    let name: string | null = null;
    let priority = this.ctx.defaults.priority ?? 0;
    let priorityScore = this.ctx.defaults.priorityScore;
    let clientBatchId = this.ctx.defaults.clientBatchId;
    let reserveFor: number | null = null;

    for (const [key, value] of Object.entries(values)) {
      if (key.charCodeAt(0) === 0) {
        data[key.slice(1)] = value; // RedBrick series / items, kept as they are
        continue;
      }
      if (typeof value === 'string' && value.length > MAX_VALUE_CHARS) {
        problems.push({ field: key, message: `The value is too large (${value.length.toLocaleString('en-US')} characters; at most ${MAX_VALUE_CHARS.toLocaleString('en-US')})` });
        continue;
      }
      const column = this.column(key);
      switch (column.kind) {
        case 'input': {
          const result = inputValue(column.field, value, fromCsv);
          if (typeof result === 'string') problems.push({ field: key, message: result });
          else data[key] = result.value;
          break;
        }
        case 'output': {
          const result = outputValue(column.field, value, fromCsv);
          if (typeof result === 'string') problems.push({ field: key, message: result });
          else (answers ??= {})[column.field.name] = result.value;
          break;
        }
        case 'name': {
          const text = trimSpaces(scalarText(value));
          if (text === undefined) problems.push({ field: key, message: 'The name must be text' });
          else if (text.length > MAX_NAME_CHARS) problems.push({ field: key, message: `The name is longer than ${MAX_NAME_CHARS} characters` });
          else if (text !== '') name = text;
          break;
        }
        case 'priority': {
          const p = parsePriority(value);
          if (p === null) problems.push({ field: key, message: `Priority must be ${PRIORITY_RULE}, not “${excerpt(value)}”` });
          else priority = p;
          break;
        }
        case 'priority_score': {
          const s = parsePriorityScore(value);
          if (s === null) problems.push({ field: isItem ? 'priority' : key, message: `${isItem ? 'Priority (the score of an item)' : 'Priority score'} must be ${SCORE_RULE}, not “${excerpt(value)}”` });
          else priorityScore = s;
          break;
        }
        case 'client_batch_id': {
          const text = trimSpaces(scalarText(value));
          if (text === undefined || text.length > MAX_BATCH_ID_CHARS) problems.push({ field: key, message: `The client batch ID must be text of at most ${MAX_BATCH_ID_CHARS} characters` });
          else if (text !== '') clientBatchId = text;
          break;
        }
        case 'reserve_for': {
          const who = this.member(value, this.label);
          if (typeof who === 'string') problems.push({ field: key, message: who });
          else reserveFor = who;
          break;
        }
        case 'pre_assign': {
          const stage = this.stages.get(column.stage.toLowerCase());
          if (!stage) problems.push({ field: key, message: `There is no stage “${column.stage}” in this project` });
          else if (stage.kind === 'ground_truth') problems.push({ field: key, message: `${stage.name} is the final stage: nobody works in it` });
          else {
            const who = this.member(value, stage);
            if (typeof who === 'string') problems.push({ field: key, message: who });
            else preAssign[stage.name] = who;
          }
          break;
        }
        case 'metadata': {
          if (column.key === '') problems.push({ field: key, message: 'A metadata column needs a key after “metadata.”' });
          else metadata[column.key] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
          break;
        }
        case 'ignore':
          break;
        case 'unknown':
          if (!fromCsv && this.unknownKeys.size < 100) this.unknownKeys.add(key);
          break;
      }
    }
    for (const field of this.ctx.inputFields) {
      if (field.required && !(field.name in data) && !problems.some((p) => p.field === field.name)) {
        problems.push({ field: field.name, message: `The required input “${field.name}” is missing` });
      }
    }
    if (problems.length) return { ok: false, problems };

    const labelAssignee = preAssign[this.label.name] ?? null;
    const assigneeId = reserveFor ?? labelAssignee;
    return {
      ok: true,
      task: {
        row,
        name: name ?? `upload-${this.ctx.uploadId}-row-${row}`,
        data,
        metadata,
        preAssign,
        priority,
        priorityScore,
        clientBatchId,
        answers,
        assigneeId,
        assignmentKind: reserveFor !== null ? 'reserved' : labelAssignee !== null ? 'preassign' : null,
      },
    };
  }

  /** The member behind an email who may work in the stage, or why not. */
  private member(value: unknown, stage: UploadStage): number | string {
    const email = scalarText(value)?.trim().toLowerCase();
    if (!email) return 'Give the email address of a project member';
    const member = this.ctx.members.get(email);
    if (!member) return `${excerpt(email)} is not a member of this project`;
    if (member.stageIds && !member.stageIds.has(stage.id)) return `${email} may not work in ${stage.name}`;
    return member.userId;
  }
}

/**
 * What PostgreSQL cannot store or the server cannot serialise without risk: a NUL character, or
 * JSON nested deeper than MAX_JSON_DEPTH (JSON.stringify recurses: 10,000 levels overflow the
 * stack). Walks with its own stack, so any depth is safe to check.
 */
export function valueProblem(value: unknown): string | null {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length) {
    const [current, depth] = pending.pop()!;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return HAS_NUL;
    } else if (current !== null && typeof current === 'object') {
      if (depth >= MAX_JSON_DEPTH) return TOO_DEEP;
      for (const [key, child] of Object.entries(current)) {
        if (key.includes('\u0000')) return HAS_NUL;
        pending.push([child, depth + 1]);
      }
    }
  }
  return null;
}

/** The same limits for a CSV cell, whose JSON text is parsed later: NULs, `\\u0000` escapes, nesting. */
function cellProblem(text: string): string | null {
  if (text.includes('\u0000')) return HAS_NUL;
  const start = text.trimStart()[0];
  if (start !== '[' && start !== '{') return null;
  if (/\\u0000/i.test(text)) return HAS_NUL;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_JSON_DEPTH) return TOO_DEEP;
    } else if (c === ']' || c === '}') depth--;
  }
  return null;
}

/** Spaces around a name or batch ID are typos; a leading TAB or CR is part of the value (kept). */
function trimSpaces(text: string | undefined): string | undefined {
  return text?.replace(/^ +| +$/g, '');
}

function fail(field: string | null, message: string): RowResult {
  return { ok: false, problems: [{ field, message }] };
}

function excerpt(value: unknown, max = 40): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

type Parsed = { value: unknown } | string;

function inputValue(field: InputField, value: unknown, fromCsv: boolean): Parsed {
  switch (field.type) {
    case 'text': {
      const text = scalarText(value);
      return text === undefined ? 'Must be text' : { value: text };
    }
    case 'url':
    case 'image_url': {
      if (typeof value !== 'string') return 'Must be a URL';
      const text = value.trim();
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        return `Not a URL: “${excerpt(text)}”`;
      }
      if (!URL_SCHEMES.has(url.protocol)) return `Use an http, https, s3 or gs URL, not “${excerpt(url.protocol)}”`;
      return { value: text };
    }
    case 'integer': {
      if (typeof value === 'number') return Number.isSafeInteger(value) ? { value } : `Must be a whole number, not ${excerpt(value)}`;
      if (typeof value === 'string' && INTEGER.test(value.trim()) && Number.isSafeInteger(Number(value))) return { value: Number(value) };
      return `Must be a whole number, not “${excerpt(value)}”`;
    }
    case 'number': {
      if (typeof value === 'number') return Number.isFinite(value) ? { value } : 'Must be a number';
      if (typeof value === 'string' && NUMBER.test(value.trim()) && Number.isFinite(Number(value))) return { value: Number(value) };
      return `Must be a number, not “${excerpt(value)}”`;
    }
    case 'date': {
      if (typeof value !== 'string') return 'Must be a date like 2026-11-22';
      const text = value.trim();
      if ((DATE.test(text) || DATE_TIME.test(text)) && !Number.isNaN(new Date(DATE.test(text) ? `${text}T00:00:00Z` : text).getTime())) return { value: text };
      return `Must be a date like 2026-11-22 (or an ISO date-time), not “${excerpt(text)}”`;
    }
    case 'json': {
      if (!fromCsv) return { value };
      try {
        return { value: JSON.parse(value as string) };
      } catch {
        return 'Must be JSON text';
      }
    }
  }
  return 'Unsupported field type';
}

function outputValue(field: OutputField, value: unknown, fromCsv: boolean): Parsed {
  const parseJson = (text: unknown): { value: unknown } | null => {
    if (!fromCsv) return { value: text };
    try {
      return { value: JSON.parse(text as string) };
    } catch {
      return null;
    }
  };
  switch (field.type) {
    case 'text': {
      const text = scalarText(value);
      return text === undefined ? 'Must be text' : { value: text };
    }
    case 'number': {
      if (typeof value === 'number' && Number.isFinite(value)) return { value };
      if (typeof value === 'string' && NUMBER.test(value.trim())) return { value: Number(value) };
      return `Must be a number, not “${excerpt(value)}”`;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return { value };
      const text = typeof value === 'string' ? value.trim().toLowerCase() : '';
      if (['true', 'yes', '1'].includes(text)) return { value: true };
      if (['false', 'no', '0'].includes(text)) return { value: false };
      return 'Must be true or false';
    }
    case 'choice': {
      const text = scalarText(value);
      if (text !== undefined && field.options?.includes(text)) return { value: text };
      return `Must be one of: ${(field.options ?? []).join(', ')}`;
    }
    case 'multi_choice': {
      let list: unknown = value;
      if (typeof value === 'string') {
        const parsed = value.trim().startsWith('[') ? parseJson(value) : { value: [value] };
        if (!parsed) return 'Must be a JSON array of options';
        list = parsed.value;
      }
      if (!Array.isArray(list) || list.some((v) => typeof v !== 'string' || !field.options?.includes(v))) {
        return `Must be a list of options from: ${(field.options ?? []).join(', ')}`;
      }
      return { value: list };
    }
    case 'json': {
      const parsed = parseJson(value);
      return parsed ?? 'Must be JSON text';
    }
  }
  return 'Unsupported field type';
}

function seriesProblem(value: unknown): string | null {
  if (!Array.isArray(value) || value.length === 0) return 'series must be a non-empty list';
  for (const s of value) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'Each series must be an object with items';
    const items = (s as Record<string, unknown>).items;
    const problem = itemsProblem(items);
    if (problem) return `In a series: ${problem}`;
  }
  return null;
}

function itemsProblem(value: unknown): string | null {
  if (typeof value === 'string' && value.trim() !== '') return null;
  if (!Array.isArray(value) || value.length === 0) return 'items must be a non-empty list of paths or URLs';
  if (value.some((v) => typeof v !== 'string' || v.trim() === '')) return 'items must be paths or URLs (text)';
  return null;
}
