import type { EntityManager } from '@mikro-orm/postgresql';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type CompiledQuery, type RawBuilder } from 'kysely';
import type { SortKey, TaskFilter } from './task-filter.ts';

/** Totals are exact up to this many rows, then shown as "10,000+". */
export const COUNT_CAP = 10_000;

export interface TaskListScope {
  projectId: number;
  viewerId: number;
  /** members see only tasks assigned or reserved to them */
  onlyAssignedToViewer: boolean;
}

export interface TaskListRow {
  id: number;
  name: string;
  createdAt: Date;
  lastSubmittedAt: Date | null;
  state: string;
  stageName: string;
  priority: number;
  priorityScore: string | null;
  clientBatchId: string | null;
  assigneeName: string | null;
  assignmentStatus: string | null;
  held: boolean;
  hasOpenIssue: boolean;
}

/** Fixed ORDER BY clauses by sort key; `%d` is the direction. Every one ends on a unique key. */
const ORDER: Record<SortKey, string> = {
  submitted: 't.last_submitted_at %d nulls last, t.created_at %d, t.id %d',
  created: 't.created_at %d, t.id %d',
  id: 't.id %d',
  name: 't.name %d, t.id %d',
  state: 't.state %d, t.id %d',
  stage: 's.position %d, t.id %d',
  priority: 't.priority %d, t.id %d',
  score: 't.priority_score %d nulls last, t.id %d',
  batch: 't.client_batch_id %d nulls last, t.id %d',
  assignee: 'u.name %d nulls last, t.id %d',
};

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Builds the WHERE clause of a filter. Values only ever travel as bound parameters. */
export function taskWhere(scope: TaskListScope, filter: TaskFilter): RawBuilder<unknown> {
  const where: RawBuilder<unknown>[] = [sql`t.project_id = ${scope.projectId}`, sql`t.archive_id is null`];
  if (scope.onlyAssignedToViewer) where.push(sql`t.assignee_id = ${scope.viewerId}`);
  if (filter.states.length) where.push(sql`t.state = any(${filter.states}::text[])`);
  if (filter.stageIds.length) where.push(sql`t.stage_id = any(${filter.stageIds}::bigint[])`);
  if (filter.statuses.length) {
    const open = filter.statuses.filter((s) => s !== 'unassigned');
    const parts: RawBuilder<unknown>[] = [];
    if (open.length) parts.push(sql`t.assignment_status = any(${open}::text[])`);
    if (filter.statuses.includes('unassigned')) parts.push(sql`t.assignee_id is null`);
    where.push(sql`(${sql.join(parts, sql` or `)})`);
  }
  if (filter.assignee === 'none') where.push(sql`t.assignee_id is null`);
  else if (filter.assignee === 'me') where.push(sql`t.assignee_id = ${scope.viewerId}`);
  else if (filter.assignee !== undefined) where.push(sql`t.assignee_id = ${filter.assignee}`);
  if (filter.held !== undefined) where.push(sql`t.held = ${filter.held}`);
  if (filter.issue !== undefined) where.push(sql`t.has_open_issue = ${filter.issue}`);
  if (filter.priorityMin !== undefined) where.push(sql`t.priority >= ${filter.priorityMin}`);
  if (filter.priorityMax !== undefined) where.push(sql`t.priority <= ${filter.priorityMax}`);
  if (filter.scoreMin !== undefined) where.push(sql`t.priority_score >= ${filter.scoreMin}::numeric`);
  if (filter.scoreMax !== undefined) where.push(sql`t.priority_score <= ${filter.scoreMax}::numeric`);
  if (filter.batch !== undefined) {
    where.push(filter.batchMatch === 'exact'
      ? sql`t.client_batch_id = ${filter.batch}`
      : sql`t.client_batch_id ilike ${`%${likeEscape(filter.batch)}%`}`);
  }
  if (filter.uploadId !== undefined) where.push(sql`t.upload_id = ${filter.uploadId}`);
  if (filter.createdFrom) where.push(sql`t.created_at >= ${filter.createdFrom}::date`);
  if (filter.createdTo) where.push(sql`t.created_at < ${filter.createdTo}::date + 1`);
  if (filter.submittedFrom) where.push(sql`t.last_submitted_at >= ${filter.submittedFrom}::date`);
  if (filter.submittedTo) where.push(sql`t.last_submitted_at < ${filter.submittedTo}::date + 1`);
  if (filter.q) {
    const name = sql`t.name ilike ${`%${likeEscape(filter.q)}%`}`;
    where.push(/^\d{1,18}$/.test(filter.q) ? sql`(t.id = ${Number(filter.q)} or ${name})` : name);
  }
  return sql.join(where, sql` and `);
}

/**
 * Compiles queries without a connection: the list's SQL is built by the pure functions below and
 * run by the repository, and the list benchmark runs the very same text and parameters with `pg`.
 */
const compiler = new Kysely<unknown>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Compiles a query built with Kysely's `sql` (for callers that run it with their own client). */
export const compileQuery = <T>(query: RawBuilder<T>): CompiledQuery<T> => query.compile(compiler);

/** The capped count of a view: `n` is exact up to COUNT_CAP, COUNT_CAP + 1 means "more". */
export function taskCountQuery(scope: TaskListScope, filter: TaskFilter): CompiledQuery<{ n: string }> {
  return sql<{ n: string }>`select count(*) as n from (select 1 from tasks t where ${taskWhere(scope, filter)} limit ${COUNT_CAP + 1}) x`.compile(compiler);
}

/** Total, cap and the page actually shown, from the capped count. A page past the end is clamped. */
export function pageOf(filter: TaskFilter, counted: number): { total: number; capped: boolean; page: number } {
  const capped = counted > COUNT_CAP;
  const total = Math.min(counted, COUNT_CAP);
  const lastPage = Math.max(1, Math.ceil(total / filter.size));
  // clamp only when the end is known; beyond the cap the page simply comes back empty
  return { total, capped, page: capped ? filter.page : Math.min(filter.page, lastPage) };
}

/** One page of a view, in its sort order. */
export function taskPageQuery(scope: TaskListScope, filter: TaskFilter, page: number): CompiledQuery<Record<string, unknown>> {
  const order = sql.raw(ORDER[filter.sort].replaceAll('%d', filter.dir));
  return sql<Record<string, unknown>>`
      select t.id, t.name, t.created_at, t.last_submitted_at, t.state, s.name as stage_name, t.priority,
             trim_scale(t.priority_score)::text as priority_score, t.client_batch_id, u.name as assignee_name,
             t.assignment_status, t.held, t.has_open_issue
      from tasks t
      join stages s on s.id = t.stage_id
      left join users u on u.id = t.assignee_id
      where ${taskWhere(scope, filter)}
      order by ${order}
      limit ${filter.size} offset ${(page - 1) * filter.size}`.compile(compiler);
}

function toRow(r: Record<string, unknown>): TaskListRow {
  return {
    id: Number(r.id),
    name: r.name as string,
    createdAt: r.created_at as Date,
    lastSubmittedAt: (r.last_submitted_at as Date | null) ?? null,
    state: r.state as string,
    stageName: r.stage_name as string,
    priority: Number(r.priority),
    priorityScore: (r.priority_score as string | null) ?? null,
    clientBatchId: (r.client_batch_id as string | null) ?? null,
    assigneeName: (r.assignee_name as string | null) ?? null,
    assignmentStatus: (r.assignment_status as string | null) ?? null,
    held: Boolean(r.held),
    hasOpenIssue: Boolean(r.has_open_issue),
  };
}

export class TaskListRepository {
  constructor(private readonly em: EntityManager) {}

  /** One page of the list and its total (exact up to COUNT_CAP). A page past the end is clamped. */
  async page(scope: TaskListScope, filter: TaskFilter): Promise<{ rows: TaskListRow[]; total: number; capped: boolean; page: number }> {
    const db = this.em.getKysely();
    const counted = await db.executeQuery(taskCountQuery(scope, filter));
    const { total, capped, page } = pageOf(filter, Number(counted.rows[0].n));
    const { rows } = await db.executeQuery(taskPageQuery(scope, filter, page));
    return { rows: rows.map(toRow), total, capped, page };
  }
}
