import type { EntityManager } from '@mikro-orm/postgresql';
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql, type CompiledQuery, type RawBuilder } from 'kysely';
import type { SortKey, TaskFilter } from '../selection/task-filter.ts';
import { taskWhere, type TaskListScope } from '../selection/task-where.ts';

export type { TaskListScope };

/** Totals are exact up to this many rows, then shown as "10,000+". */
export const COUNT_CAP = 10_000;


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
export const ORDER: Record<SortKey, string> = {
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

/** Views of at most this many tasks get their page from the counting scan itself, in one statement. */
export const SMALL_VIEW = 2_000;

const COLUMNS = sql`t.id, t.name, t.created_at, t.last_submitted_at, t.state, s.name as stage_name, t.priority,
  trim_scale(t.priority_score)::text as priority_score, t.client_batch_id, u.name as assignee_name,
  t.assignment_status, t.held, t.has_open_issue`;

const orderBy = (filter: TaskFilter) => sql.raw(ORDER[filter.sort].replaceAll('%d', filter.dir));

/**
 * The first query of a view: the capped count `n` (exact up to COUNT_CAP, COUNT_CAP + 1 means
 * "more") and, when the view has at most SMALL_VIEW tasks, its page (clamped to the last page)
 * from the ids the count just found: narrow views (a search, a member's own tasks) scan their
 * index once instead of twice. Always at least one row; `id` is null when no page came with it.
 */
export function taskCountQuery(scope: TaskListScope, filter: TaskFilter): CompiledQuery<Record<string, unknown> & { n: string }> {
  return compileQuery(sql<Record<string, unknown> & { n: string }>`
    with m as materialized (select t.id from tasks t where ${taskWhere(scope, filter)} limit ${COUNT_CAP + 1}),
         c as (select count(*) as n from m)
    select c.n, p.* from c
    left join lateral (
      select ${COLUMNS}
      from m join tasks t on t.id = m.id
      join stages s on s.id = t.stage_id
      left join users u on u.id = t.assignee_id
      where c.n <= ${SMALL_VIEW}
      order by ${orderBy(filter)}
      limit ${filter.size}
      offset (least(${filter.page}::int, greatest(1, ceil(c.n / ${filter.size}::numeric)::int)) - 1) * ${filter.size}::int
    ) p on true`);
}

/** Total, cap and the page actually shown, from the capped count. A page past the end is clamped. */
export function pageOf(filter: TaskFilter, counted: number): { total: number; capped: boolean; page: number } {
  const capped = counted > COUNT_CAP;
  const total = Math.min(counted, COUNT_CAP);
  const lastPage = Math.max(1, Math.ceil(total / filter.size));
  // clamp only when the end is known; beyond the cap the page simply comes back empty
  return { total, capped, page: capped ? filter.page : Math.min(filter.page, lastPage) };
}

/**
 * One page of a view larger than SMALL_VIEW, in its sort order. The sorted walk reads only the
 * ids (an index-only scan when an index holds the sort keys and the filtered columns); the 50
 * rows shown are joined to their stage and assignee afterwards, so a deep page (offset 10,000)
 * costs index entries, not 10,000 heap rows and joins.
 */
export function taskPageQuery(scope: TaskListScope, filter: TaskFilter, page: number): CompiledQuery<Record<string, unknown>> {
  // sorting by stage or assignee needs their table inside the walk
  const join = filter.sort === 'stage' ? sql`join stages s on s.id = t.stage_id`
    : filter.sort === 'assignee' ? sql`left join users u on u.id = t.assignee_id` : sql``;
  return compileQuery(sql<Record<string, unknown>>`
    select ${COLUMNS}
    from (select t.id from tasks t ${join} where ${taskWhere(scope, filter)}
          order by ${orderBy(filter)} limit ${filter.size} offset ${(page - 1) * filter.size}) p
    join tasks t on t.id = p.id
    join stages s on s.id = t.stage_id
    left join users u on u.id = t.assignee_id
    order by ${orderBy(filter)}`);
}

export type RunQuery = (query: CompiledQuery<Record<string, unknown>>) => Promise<Record<string, unknown>[]>;

/** A view's page and total with one or two queries; `run` executes compiled SQL (the ORM's Kysely, or `pg` in the benchmark). */
export async function loadTaskPage(run: RunQuery, scope: TaskListScope, filter: TaskFilter): Promise<{ rows: TaskListRow[]; total: number; capped: boolean; page: number }> {
  const first = await run(taskCountQuery(scope, filter));
  const counted = Number(first[0].n);
  const { total, capped, page } = pageOf(filter, counted);
  let rows = counted <= SMALL_VIEW ? first.filter((r) => r.id !== null) : await run(taskPageQuery(scope, filter, page));
  // a search for a task ID shows that task first (names that contain the digits follow)
  if (page === 1 && filter.q && /^\d{1,18}$/.test(filter.q)) {
    const id = Number(filter.q);
    const at = rows.findIndex((r) => Number(r.id) === id);
    if (at > 0) rows.unshift(...rows.splice(at, 1));
    else if (at < 0) {
      const exact = await run(compileQuery(sql<Record<string, unknown>>`select ${COLUMNS} from tasks t join stages s on s.id = t.stage_id
        left join users u on u.id = t.assignee_id where ${taskWhere(scope, filter)} and t.id = ${id}`));
      if (exact.length) rows = [exact[0], ...rows.slice(0, filter.size - 1)];
    }
  }
  return { rows: rows.map(toRow), total, capped, page };
}

function toRow(r: Record<string, unknown>): TaskListRow {
  return {
    id: Number(r.id),
    name: r.name as string,
    createdAt: new Date(r.created_at as string),
    lastSubmittedAt: r.last_submitted_at ? new Date(r.last_submitted_at as string) : null,
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
    return loadTaskPage(async (query) => (await db.executeQuery(query)).rows, scope, filter);
  }

  /**
   * The project's members for the assignee filter and the assign/reserve menu, by name: ids and
   * names only (loading member entities with their users and stages cost the page ~4 ms of CPU).
   */
  async memberChoices(projectId: number): Promise<{ user: { id: number; name: string } }[]> {
    const { rows } = await sql<{ id: string; name: string }>`
      select u.id, u.name from project_members m join users u on u.id = m.user_id
      where m.project_id = ${projectId} order by u.name, m.id`.execute(this.em.getKysely());
    return rows.map((r) => ({ user: { id: Number(r.id), name: r.name } }));
  }
}
