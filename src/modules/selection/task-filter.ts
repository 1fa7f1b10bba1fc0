import { TASK_STATES, type TaskState } from '../workflow/task-states.ts';
import { parsePriority, parsePriorityScore, PRIORITY_RULE, SCORE_RULE } from '../../lib/priority.ts';

/** Sortable columns of the task list, by their URL name. Only these reach SQL (as fixed expressions). */
export const SORT_KEYS = ['id', 'name', 'created', 'submitted', 'state', 'stage', 'priority', 'score', 'batch', 'assignee'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export const PAGE_SIZES = [25, 50, 100, 200] as const;
export const ASSIGNMENT_FILTER_STATUSES = ['unassigned', 'assigned', 'saved', 'pending_finalization', 'skipped', 'issue'] as const;
export type AssignmentFilterStatus = (typeof ASSIGNMENT_FILTER_STATUSES)[number];

export interface TaskFilter {
  states: TaskState[];
  stageIds: number[];
  statuses: AssignmentFilterStatus[];
  /** a user id, or `me` / `none` */
  assignee?: number | 'me' | 'none';
  held?: boolean;
  issue?: boolean;
  priorityMin?: number;
  priorityMax?: number;
  /** kept as decimal strings: scores have 9 decimals */
  scoreMin?: string;
  scoreMax?: string;
  batch?: string;
  batchMatch: 'exact' | 'contains';
  uploadId?: number;
  createdFrom?: string;
  createdTo?: string;
  submittedFrom?: string;
  submittedTo?: string;
  /** a task ID, or the start of (or a part of) a name */
  q?: string;
  sort: SortKey;
  dir: 'asc' | 'desc';
  page: number;
  size: number;
}

export const DEFAULT_FILTER: TaskFilter = {
  states: [], stageIds: [], statuses: [], batchMatch: 'contains', sort: 'submitted', dir: 'desc', page: 1, size: 50,
};

export type FilterErrors = Partial<Record<string, string>>;
type Query = Record<string, string | string[] | undefined>;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

const list = (value: string | string[] | undefined): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
const one = (value: string | string[] | undefined): string | undefined => {
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return v === undefined || v.trim() === '' ? undefined : v.trim();
};

function validDate(value: string): boolean {
  if (!DATE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(value);
}

/**
 * Reads the whitelisted query keys into a filter. Unknown keys are ignored; malformed values are
 * reported per key (and left out of the filter), so a bad bookmark never reaches SQL.
 */
export function parseTaskFilter(query: Query): { filter: TaskFilter; errors: FilterErrors } {
  const errors: FilterErrors = {};
  const filter: TaskFilter = { ...DEFAULT_FILTER, states: [], stageIds: [], statuses: [] };

  for (const s of list(query.state)) {
    if ((TASK_STATES as readonly string[]).includes(s)) filter.states.push(s as TaskState);
    else errors.state = `Unknown state “${s}”`;
  }
  for (const s of list(query.stage)) {
    if (/^\d{1,18}$/.test(s)) filter.stageIds.push(Number(s));
    else errors.stage = 'Unknown stage';
  }
  for (const s of list(query.status)) {
    if ((ASSIGNMENT_FILTER_STATUSES as readonly string[]).includes(s)) filter.statuses.push(s as AssignmentFilterStatus);
    else errors.status = `Unknown assignment status “${s}”`;
  }
  const assignee = one(query.assignee);
  if (assignee === 'me' || assignee === 'none') filter.assignee = assignee;
  else if (assignee !== undefined) {
    if (/^\d{1,18}$/.test(assignee)) filter.assignee = Number(assignee);
    else errors.assignee = 'Unknown assignee';
  }
  for (const [key, field] of [['held', 'held'], ['issue', 'issue']] as const) {
    const v = one(query[key]);
    if (v === 'yes' || v === 'true') filter[field] = true;
    else if (v === 'no' || v === 'false') filter[field] = false;
    else if (v !== undefined) errors[key] = 'Choose yes or no';
  }
  for (const [key, field] of [['pmin', 'priorityMin'], ['pmax', 'priorityMax']] as const) {
    const v = one(query[key]);
    if (v === undefined) continue;
    const n = parsePriority(v);
    if (n !== null) filter[field] = n;
    else errors[key] = `Priority is ${PRIORITY_RULE}`;
  }
  for (const [key, field] of [['smin', 'scoreMin'], ['smax', 'scoreMax']] as const) {
    const v = one(query[key]);
    if (v === undefined) continue;
    const score = parsePriorityScore(v);
    if (score !== null) filter[field] = score;
    else errors[key] = `Score is ${SCORE_RULE}`;
  }
  const batch = one(query.batch);
  if (batch !== undefined) {
    if (batch.length <= 200) filter.batch = batch;
    else errors.batch = 'At most 200 characters';
  }
  const match = one(query.batch_match);
  if (match === 'exact' || match === 'contains') filter.batchMatch = match;
  else if (match !== undefined) errors.batch_match = 'Choose exact or contains';
  const upload = one(query.upload);
  if (upload !== undefined) {
    if (/^\d{1,18}$/.test(upload)) filter.uploadId = Number(upload);
    else errors.upload = 'Upload ID is a number';
  }
  for (const [key, field] of [['created_from', 'createdFrom'], ['created_to', 'createdTo'], ['submitted_from', 'submittedFrom'], ['submitted_to', 'submittedTo']] as const) {
    const v = one(query[key]);
    if (v === undefined) continue;
    if (validDate(v)) filter[field] = v;
    else errors[key] = 'Use a date like 2026-11-22';
  }
  const q = one(query.q);
  if (q !== undefined) {
    if (q.length <= 200) filter.q = q;
    else errors.q = 'At most 200 characters';
  }
  const sort = one(query.sort);
  if (sort !== undefined) {
    if ((SORT_KEYS as readonly string[]).includes(sort)) filter.sort = sort as SortKey;
    else errors.sort = 'Unknown sort column';
  }
  const dir = one(query.dir);
  if (dir === 'asc' || dir === 'desc') filter.dir = dir;
  else if (dir !== undefined) errors.dir = 'Choose asc or desc';
  const size = one(query.size);
  if (size !== undefined) {
    if ((PAGE_SIZES as readonly number[]).includes(Number(size))) filter.size = Number(size);
    else errors.size = `Page size is one of ${PAGE_SIZES.join(', ')}`;
  }
  const page = one(query.page);
  if (page !== undefined) {
    // a page beyond the end is clamped by the list; nonsense is an error
    if (/^\d{1,7}$/.test(page) && Number(page) >= 1) filter.page = Number(page);
    else errors.page = 'Page is a whole number from 1';
  }
  filter.states = [...new Set(filter.states)].sort();
  filter.stageIds = [...new Set(filter.stageIds)].sort((a, b) => a - b);
  filter.statuses = [...new Set(filter.statuses)].sort();
  return { filter, errors };
}

/** The one canonical query string of a filter: defaults dropped, keys sorted. */
export function canonicalQuery(filter: TaskFilter, overrides: Partial<TaskFilter> = {}): string {
  const f = { ...filter, ...overrides };
  const pairs: [string, string][] = [];
  const add = (key: string, value: string | number | boolean | undefined) => {
    if (value !== undefined && value !== '') pairs.push([key, String(value)]);
  };
  if (f.assignee !== undefined) add('assignee', f.assignee);
  if (f.batch !== undefined) {
    add('batch', f.batch);
    if (f.batchMatch !== DEFAULT_FILTER.batchMatch) add('batch_match', f.batchMatch);
  }
  add('created_from', f.createdFrom);
  add('created_to', f.createdTo);
  if (f.dir !== DEFAULT_FILTER.dir) add('dir', f.dir);
  if (f.held !== undefined) add('held', f.held ? 'yes' : 'no');
  if (f.issue !== undefined) add('issue', f.issue ? 'yes' : 'no');
  if (f.page !== DEFAULT_FILTER.page) add('page', f.page);
  add('pmax', f.priorityMax);
  add('pmin', f.priorityMin);
  add('q', f.q);
  if (f.size !== DEFAULT_FILTER.size) add('size', f.size);
  add('smax', f.scoreMax);
  add('smin', f.scoreMin);
  if (f.sort !== DEFAULT_FILTER.sort) add('sort', f.sort);
  for (const s of f.stageIds) add('stage', s);
  for (const s of f.states) add('state', s);
  for (const s of f.statuses) add('status', s);
  add('submitted_from', f.submittedFrom);
  add('submitted_to', f.submittedTo);
  add('upload', f.uploadId);
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/**
 * The API takes a stage by id or by name: `stage=Review_1` in a query or a filter string reads as
 * that stage's id (the page's own URLs use ids). Names no stage has are left for the filter to refuse.
 */
export function stageNamesToIds<Q extends Record<string, string | string[] | undefined>>(query: Q, stages: { id: number; name: string }[]): Q {
  if (query.stage === undefined) return query;
  const ids = (Array.isArray(query.stage) ? query.stage : [query.stage]).flatMap((v) => v.split(',')).map((v) => {
    const named = stages.find((s) => s.name === v.trim());
    return named ? String(named.id) : v;
  });
  return { ...query, stage: ids };
}

