import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound } from '../../lib/errors.ts';
import type { IAnswerSet } from '../answers/answer-set.entity.ts';
import type { AssignmentStatus } from '../assignments/assignment.entity.ts';
import type { InputField, InputFieldType, OutputField, OutputFieldType } from '../projects/project.entity.ts';
import type { ProjectAccess, StageInfo } from '../projects/project-access.ts';
import type { IUser } from '../users/user.entity.ts';
import { TaskDetailRepository } from './task-detail.repository.ts';
import type { AssignmentKind, ITask } from './task.entity.ts';

/** The task view shows at most this many events, newest first. */
export const HISTORY_LIMIT = 200;
/** Event values longer than this are cut in the history list. */
const EVENT_VALUE_MAX = 160;

/**
 * One input value, decided here so the template only prints escaped text:
 * `image` and `link` carry an `href` that is always an absolute http(s) URL.
 */
export interface InputView {
  name: string;
  /** the declared input type, or null for a key the schema does not list */
  type: InputFieldType | null;
  kind: 'image' | 'link' | 'json' | 'text';
  value: string;
  href?: string;
  /** no value in the task data */
  missing: boolean;
}

export interface AnswerView {
  name: string;
  type: OutputFieldType | null;
  kind: 'json' | 'text';
  value: string;
  missing: boolean;
}

export interface AssignmentRow {
  id: number;
  user: string;
  status: AssignmentStatus;
  kind: AssignmentKind;
  createdAt: Date;
  updatedAt: Date;
  finalizedAt: Date | null;
  outcome: string | null;
  issueComment: string | null;
  issueResponse: string | null;
}

export interface AssignmentGroup {
  stage: string;
  rows: AssignmentRow[];
}

/** What identifies an answer set to a reader: kind, stage, user, version. */
export interface AnswerSetSummary {
  id: number;
  kind: IAnswerSet['kind'];
  label: string;
  stage: string | null;
  stageId: number | null;
  user: string | null;
  userId: number | null;
  version: number;
  submitted: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface AnswerSetView extends AnswerSetSummary {
  answers: AnswerView[];
}

/** An answer set with its stored answers, for comparing and the API. */
export interface AnswerSetRecord extends AnswerSetSummary {
  answers: Record<string, unknown>;
}

export interface EventView {
  id: number;
  at: Date;
  actor: string;
  kind: string;
  before: string | null;
  after: string | null;
  note: string | null;
}

/** One entry of a task's history in the API (`id` 0 is the creation, derived from the task row). */
export interface HistoryEvent {
  id: number;
  at: Date;
  /** null: the system (a job, the webhook) */
  actor: { id: number; name: string } | null;
  kind: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  note: string | null;
}

export interface TaskView {
  task: ITask;
  stage: StageInfo;
  /** the stored score without trailing zeros, or null */
  priorityScore: string | null;
  inputs: InputView[];
  metadata: [string, string][];
  assignmentGroups: AssignmentGroup[];
  assignmentCount: number;
  answerSets: AnswerSetView[];
  events: EventView[];
  eventTotal: number;
}

/** The URL when the value is an absolute http: or https: URL with a host; never fetched. */
export function webUrl(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 8192) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return null;
  return url.href;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const pretty = (value: unknown) => JSON.stringify(value, null, 2);
const isStructured = (value: unknown): value is object => typeof value === 'object' && value !== null;

/** A JSON text that holds an object or array, parsed; otherwise undefined. */
function parsedJson(value: string): object | undefined {
  const text = value.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return isStructured(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function scalarText(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

/** Fields in schema order, then any keys the schema does not list (alphabetically: jsonb keeps no order). */
function inSchemaOrder<T>(schema: { name: string; type: T }[], record: Record<string, unknown>): [string, T | null, unknown][] {
  const fields = Array.isArray(schema) ? schema : [];
  const values = record ?? {};
  const listed = new Set(fields.map((f) => f.name));
  const names: [string, T | null][] = [
    ...fields.map((f): [string, T | null] => [f.name, f.type]),
    ...Object.keys(values).filter((k) => !listed.has(k)).sort(byName).map((k): [string, null] => [k, null]),
  ];
  return names.map(([name, type]) => [name, type, Object.hasOwn(values, name) ? values[name] : undefined]);
}

export function inputViews(schema: InputField[], data: Record<string, unknown>): InputView[] {
  return inSchemaOrder(schema, data).map(([name, type, value]) => inputView(name, type, value));
}

export function inputView(name: string, type: InputFieldType | null, value: unknown): InputView {
  if (value === undefined || value === null || value === '') return { name, type, kind: 'text', value: '', missing: true };
  if (isStructured(value)) return { name, type, kind: 'json', value: pretty(value), missing: false };
  if (type === 'json' && typeof value === 'string') {
    const parsed = parsedJson(value);
    if (parsed) return { name, type, kind: 'json', value: pretty(parsed), missing: false };
  }
  const href = webUrl(value);
  if (href && type === 'image_url') return { name, type, kind: 'image', value: scalarText(value), href, missing: false };
  if (href) return { name, type, kind: 'link', value: scalarText(value), href, missing: false };
  return { name, type, kind: 'text', value: scalarText(value), missing: false };
}

/** Answers in output-schema order, then any extra keys; booleans as Yes/No, lists comma-separated. */
export function answerViews(schema: OutputField[], answers: Record<string, unknown>): AnswerView[] {
  return inSchemaOrder(schema, answers).map(([name, type, value]) => answerView(name, type, value));
}

export function answerView(name: string, type: OutputFieldType | null, value: unknown): AnswerView {
  const text = (v: string): AnswerView => ({ name, type, kind: 'text', value: v, missing: false });
  if (value === undefined || value === null) return { name, type, kind: 'text', value: '', missing: true };
  if (typeof value === 'boolean') return text(value ? 'Yes' : 'No');
  if (type === 'multi_choice' && Array.isArray(value) && value.every((v) => !isStructured(v))) {
    return value.length ? text(value.map(scalarText).join(', ')) : { name, type, kind: 'text', value: '', missing: true };
  }
  if (isStructured(value)) return { name, type, kind: 'json', value: pretty(value), missing: false };
  if (type === 'json' && typeof value === 'string') {
    const parsed = parsedJson(value);
    if (parsed) return { name, type, kind: 'json', value: pretty(parsed), missing: false };
  }
  if (value === '') return { name, type, kind: 'text', value: '', missing: true };
  return text(scalarText(value));
}

/** `key: value, key: value` for the history list; long values are cut. */
export function compactPairs(value: Record<string, unknown> | null | undefined): string | null {
  if (!isStructured(value)) return value == null ? null : String(value);
  const pairs = Object.entries(value).map(([key, v]) => {
    let text = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
    if (text.length > EVENT_VALUE_MAX) text = `${text.slice(0, EVENT_VALUE_MAX - 1)}…`;
    return `${key}: ${text}`;
  });
  return pairs.length ? pairs.join(', ') : null;
}

/** "0.500000000" → "0.5": the stored decimal, exactly, without padding. */
export function scoreText(score: string | null | undefined): string | null {
  if (score == null || score === '') return null;
  return score.includes('.') ? score.replace(/0+$/, '').replace(/\.$/, '') : score;
}

const ANSWER_KIND_ORDER: Record<IAnswerSet['kind'], number> = { default: 0, submission: 1, correction: 2 };
const ANSWER_LABELS: Record<IAnswerSet['kind'], string> = { default: 'Default / model', submission: 'Submission', correction: 'Correction' };

/**
 * The task's answer sets in reading order: default answers first, then by workflow position of the
 * stage, kind (submission before correction), creation time and id.
 */
export function answerSetRecords(sets: IAnswerSet[], stages: StageInfo[]): AnswerSetRecord[] {
  const stageById = new Map(stages.map((s) => [s.id, s]));
  const position = (id: number | undefined) => (id === undefined ? -1 : (stageById.get(id)?.position ?? Number.MAX_SAFE_INTEGER));
  return [...sets]
    .sort(
      (a, b) =>
        (a.kind === 'default' ? 0 : 1) - (b.kind === 'default' ? 0 : 1) ||
        position(a.stage?.id) - position(b.stage?.id) ||
        ANSWER_KIND_ORDER[a.kind] - ANSWER_KIND_ORDER[b.kind] ||
        a.createdAt.getTime() - b.createdAt.getTime() ||
        a.id - b.id,
    )
    .map((s) => ({
      id: s.id,
      kind: s.kind,
      label: ANSWER_LABELS[s.kind],
      stage: s.stage ? (stageById.get(s.stage.id)?.name ?? `Stage ${s.stage.id}`) : null,
      stageId: s.stage?.id ?? null,
      user: s.user?.name ?? null,
      userId: s.user?.id ?? null,
      version: s.version,
      submitted: s.submitted,
      createdAt: s.createdAt,
      updatedAt: s.updatedAt,
      answers: s.answers ?? {},
    }));
}

export class TaskDetailService {
  private readonly repo: TaskDetailRepository;

  constructor(em: EntityManager) {
    this.repo = new TaskDetailRepository(em);
  }

  /**
   * The task as `user` may see it through `access`, or 404: admins and managers see every live
   * task of the project; members only while it is assigned or reserved to them in its current
   * stage (an earlier holder, such as the labeler of a task now in review, no longer sees it).
   * The page, the answers, the comparison and the history all load the task through here.
   */
  async visibleTask(access: ProjectAccess, user: IUser, taskId: number): Promise<ITask> {
    if (!Number.isSafeInteger(taskId) || taskId <= 0) throw notFound('No such task');
    const task = await this.repo.findLiveTask(access.project.id, taskId);
    if (!task) throw notFound('No such task');
    if (!access.canManageTasks && task.assignee?.id !== user.id && !(await this.repo.holdsTask(task.id, task.stage.id, user.id))) {
      throw notFound('No such task');
    }
    return task;
  }

  /** The task (as `visibleTask` allows) and the answer sets the user may read, in reading order. */
  async answerSets(access: ProjectAccess, user: IUser, taskId: number): Promise<{ task: ITask; sets: AnswerSetRecord[] }> {
    const task = await this.visibleTask(access, user, taskId);
    const sets = readableSets(access, user, await this.repo.answerSets(task.id));
    return { task, sets: answerSetRecords(sets, access.stages) };
  }

  /** Everything the read-only task view shows. */
  async view(access: ProjectAccess, user: IUser, taskId: number): Promise<TaskView> {
    const projectId = access.project.id;
    const task = await this.visibleTask(access, user, taskId);

    const stages = access.stages;
    const assignments = await this.repo.assignments(task.id);
    const answerSets = readableSets(access, user, await this.repo.answerSets(task.id));
    const events = await this.repo.latestEvents(task.id, HISTORY_LIMIT);
    const stored = events.length < HISTORY_LIMIT ? events.length : await this.repo.countEvents(task.id);
    const creation = await this.creationEvent(task, events, stored);

    const stageById = new Map(stages.map((s) => [s.id, s]));
    const position = (id: number | undefined) => (id === undefined ? -1 : (stageById.get(id)?.position ?? Number.MAX_SAFE_INTEGER));
    const stageName = (id: number | undefined) => (id === undefined ? null : (stageById.get(id)?.name ?? `Stage ${id}`));

    const groups = new Map<number, AssignmentGroup>();
    const sortedAssignments = [...assignments].sort(
      (a, b) => position(a.stage.id) - position(b.stage.id) || a.createdAt.getTime() - b.createdAt.getTime() || a.id - b.id,
    );
    for (const a of sortedAssignments) {
      let group = groups.get(a.stage.id);
      if (!group) groups.set(a.stage.id, (group = { stage: stageName(a.stage.id)!, rows: [] }));
      group.rows.push({
        id: a.id,
        user: a.user.name,
        status: a.status,
        kind: a.kind,
        createdAt: a.createdAt,
        updatedAt: a.updatedAt,
        finalizedAt: a.finalizedAt ?? null,
        outcome: a.outcome ?? null,
        issueComment: a.issueComment ?? null,
        issueResponse: a.issueResponse ?? null,
      });
    }

    const outputSchema = access.project.outputSchema;
    const answerSetViews = answerSetRecords(answerSets, stages).map(
      (s): AnswerSetView => ({ ...s, answers: answerViews(outputSchema, s.answers) }),
    );

    return {
      task,
      stage: stageById.get(task.stage.id) ?? (task.stage as StageInfo),
      priorityScore: scoreText(task.priorityScore),
      inputs: inputViews(access.project.inputSchema, task.data ?? {}),
      metadata: Object.entries(task.metadata ?? {}).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
      assignmentGroups: [...groups.values()],
      assignmentCount: assignments.length,
      answerSets: answerSetViews,
      events: [
        ...events.map((e) => ({
          id: e.id,
          at: e.createdAt,
          actor: e.actor?.name ?? 'N/A',
          kind: e.kind,
          before: compactPairs(e.before),
          after: compactPairs(e.after),
          note: e.note ?? null,
        })),
        ...(creation.shown ? [creation.shown] : []),
      ],
      eventTotal: stored + creation.count,
    };
  }

  /**
   * The task's history for the API, oldest first, `limit` events after the cursor: the same events
   * the task view shows (its derived creation entry first, as event 0), with their raw before/after.
   */
  async history(access: ProjectAccess, user: IUser, taskId: number, { afterId = -1, limit = 100 } = {}): Promise<{ items: HistoryEvent[]; nextAfterId: number | null }> {
    const task = await this.visibleTask(access, user, taskId);
    const items: HistoryEvent[] = [];
    // afterId -1: from the start, the creation entry included; 0: after it
    if (afterId < 0 && !(await this.repo.hasCreatedEvent(task.id))) {
      const entry = creationEntry(task, task.upload ? await this.repo.uploadFileName(task.upload.id) : null);
      items.push({ id: 0, at: entry.at, actor: task.createdBy ? { id: task.createdBy.id, name: task.createdBy.name } : null, kind: 'created',
        before: null, after: task.upload ? { upload: task.upload.id } : null, note: entry.after });
    }
    const stored = await this.repo.eventsAfter(task.id, Math.max(afterId, 0), limit - items.length + 1);
    const more = items.length + stored.length > limit;
    for (const e of stored.slice(0, limit - items.length)) {
      items.push({ id: e.id, at: e.createdAt, actor: e.actor ? { id: e.actor.id, name: e.actor.name } : null, kind: e.kind,
        before: (e.before as Record<string, unknown> | null) ?? null, after: (e.after as Record<string, unknown> | null) ?? null, note: e.note ?? null });
    }
    return { items, nextAfterId: more ? items[items.length - 1].id : null };
  }

  /**
   * The first entry of a task's history, "Created by <creator> from upload <file>", derived from the
   * task row (its creator, upload and created_at) instead of one stored event per uploaded task.
   * `count` is 1 unless the history already holds a stored `created` event (older data); the entry is
   * `shown` when the whole history fits the page (it is the oldest entry, listed last).
   */
  private async creationEvent(task: ITask, events: { kind: string }[], stored: number): Promise<{ count: number; shown?: EventView }> {
    const complete = stored === events.length;
    if (complete ? events.some((e) => e.kind === 'created') : await this.repo.hasCreatedEvent(task.id)) return { count: 0 };
    if (!complete) return { count: 1 };
    return { count: 1, shown: creationEntry(task, task.upload ? await this.repo.uploadFileName(task.upload.id) : null) };
  }
}

/** The synthesized creation entry of a task's history (see `creationEvent`). */
export function creationEntry(task: ITask, uploadFileName: string | null): EventView {
  const actor = task.createdBy?.name ?? 'N/A';
  const by = task.createdBy ? `Created by ${actor}` : 'Created';
  return {
    id: 0,
    at: task.createdAt,
    actor,
    kind: 'created',
    before: null,
    after: uploadFileName === null ? by : `${by} from upload ${uploadFileName}`,
    note: null,
  };
}

/**
 * An unsubmitted draft is read by its author and the project's admins and managers only; a
 * member holding the task reads the defaults and the submitted work of every stage.
 */
function readableSets(access: ProjectAccess, user: IUser, sets: IAnswerSet[]): IAnswerSet[] {
  if (access.canManageTasks) return sets;
  return sets.filter((set) => set.kind === 'default' || set.submitted || set.user?.id === user.id);
}
