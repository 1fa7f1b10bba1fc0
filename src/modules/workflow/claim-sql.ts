import { sql, type RawBuilder } from 'kysely';
import { PREPARED } from '../../db/prepared-statements.ts';

export interface ClaimArgs {
  projectId: number;
  stageId: number;
  userId: number;
  /** how many tasks to claim at most (the project's queue size, minus what the user already holds) */
  limit: number;
  leaseMinutes: number;
  /** task ids never to hand out in this request (e.g. the one just skipped) */
  exclude?: number[];
}

/** A handed-out task as the queue queries return it (the API shows these columns). */
export interface HandedOutSqlRow {
  id: string;
  name: string;
  state: string;
  assignment_status: string;
  assignment_kind: string;
  priority: number;
  priority_score: string | null;
  data: unknown;
  metadata: Record<string, string> | null;
  lease_expires_at: Date | null;
  version: number;
}

export interface ClaimedRow extends HandedOutSqlRow {
  /** the assignment a lapsed lease was taken from, or null */
  expired_assignment_id: string | null;
}

/** The columns of a handed-out task, from `tasks t` (a fresh claim has no answers yet: version 0). */
export const handedOutColumns = (version: RawBuilder<unknown>) => sql`t.id::text as id, t.name, t.state, t.assignment_status, t.assignment_kind, t.priority,
  trim_scale(t.priority_score)::text as priority_score, t.data, t.metadata, t.lease_expires_at, ${version} as version`;

/**
 * The claim of SPEC §4, as CTEs ending in `claimed`: lock the first free tasks of the stage in pool
 * order (`FOR UPDATE SKIP LOCKED`, so concurrent claims never wait for nor share a row), open an
 * `auto` assignment for each, mirror it on the task with a lease, and record an event.
 *
 * The pool is two index scans: tasks nobody holds (`tasks_pool`), and tasks whose untouched
 * automatic allocation has lapsed (`tasks_leases`) — lease expiry is part of the predicate, so no
 * cleanup job is needed (the "expire a lease" transition happens here). Manual, pre-assigned,
 * reserved and returned assignments have no lease and are never taken. The lapsed assignment is
 * closed as `expired` before the new one is opened (the InitPlan `(select count(*) from expired)`
 * orders the two writes: one open assignment per task is a unique index).
 *
 * `gate` (a condition without rows) and `take` (how many of the candidates to keep) let the claim
 * follow another CTE in the same statement: request next claims only what the user's own work
 * leaves of the queue.
 */
function claimCtes(a: ClaimArgs, gate: RawBuilder<unknown>, take: RawBuilder<unknown>): RawBuilder<unknown> {
  const exclude = a.exclude?.length ? sql`and not (t.id = any(${a.exclude}::bigint[]))` : sql``;
  // a literal (queue sizes are few): with a parameter the planner of the prepared statement cannot
  // tell a LIMIT 1 from a large one and would sort the whole pool instead of reading the index
  const limit = sql.lit(Math.max(1, Math.trunc(a.limit)));
  const candidates = (predicate: RawBuilder<unknown>, previous: RawBuilder<unknown>) => sql`
    select t.id, t.priority, t.priority_score, t.created_at, ${previous} as old_assignment_id
    from tasks t
    where t.project_id = ${a.projectId}::bigint and t.stage_id = ${a.stageId}::bigint
      and t.archive_id is null and not t.held and ${predicate} ${exclude} and ${gate}
    order by t.priority, t.priority_score desc nulls last, t.created_at, t.id
    limit ${limit}
    for update of t skip locked`;
  return sql`
    free as (${candidates(sql`t.assignee_id is null`, sql`null::bigint`)}),
    lapsed as (${candidates(sql`t.lease_expires_at < now() and t.assignment_kind = 'auto' and t.assignment_status = 'assigned'`, sql`t.assignment_id`)}),
    picked as (
      select c.id, c.old_assignment_id, nextval(pg_get_serial_sequence('assignments', 'id')) as assignment_id
      from (select * from free union all select * from lapsed) c
      order by c.priority, c.priority_score desc nulls last, c.created_at, c.id
      limit ${take}
    ),
    expired as (
      update assignments x set status = 'expired', updated_at = now()
      from picked p where x.id = p.old_assignment_id
      returning x.id, x.task_id, x.user_id
    ),
    opened as (
      insert into assignments (id, task_id, stage_id, user_id, status, kind)
      select p.assignment_id, p.id, ${a.stageId}::bigint, ${a.userId}::bigint, 'assigned', 'auto'
      from picked p where (select count(*) from expired) >= 0
    ),
    events as (
      insert into task_events (task_id, project_id, actor_id, kind, before, after)
      select p.id, ${a.projectId}::bigint, ${a.userId}::bigint, 'allocated',
             case when e.id is null then null else jsonb_build_object('assignee', eu.name, 'status', 'expired') end,
             jsonb_build_object('assignee', (select name from users where id = ${a.userId}::bigint), 'kind', 'auto')
      from picked p left join expired e on e.task_id = p.id left join users eu on eu.id = e.user_id
    ),
    claimed as (
      update tasks t set assignment_id = p.assignment_id, assignee_id = ${a.userId}::bigint, assignment_status = 'assigned',
        assignment_kind = 'auto', lease_expires_at = now() + make_interval(mins => ${a.leaseMinutes}::int),
        has_open_issue = false, last_activity_at = now()
      from picked p where t.id = p.id
      returning ${handedOutColumns(sql`0`)}, p.old_assignment_id::text as expired_assignment_id,
        t.priority_score as sort_score, t.created_at as sort_created
    )`;
}

/** The claim alone: up to `limit` pool tasks, in pool order (the benchmark's raw claim loop runs this very statement). */
export function claimSql(a: ClaimArgs): RawBuilder<ClaimedRow> {
  const limit = sql.lit(Math.max(1, Math.trunc(a.limit)));
  return sql<ClaimedRow>`${sql.raw(PREPARED)}
    with ${claimCtes(a, sql`true`, limit)}
    select * from claimed order by priority, sort_score desc nulls last, sort_created, id::bigint`;
}

/**
 * Request next as ONE statement: the user's own open work in the stage first (assigned, reserved,
 * saved, then skipped; pending drafts wait for "Finalize all", issues are out of the queue), then
 * — with auto-assignment on — what the claim adds from the pool up to the queue size. `a.limit`
 * is the queue size.
 */
export function nextWorkSql(a: ClaimArgs & { autoAssign: boolean }): RawBuilder<ClaimedRow> {
  const size = Math.max(1, Math.trunc(a.limit));
  const exclude = a.exclude?.length ? sql`and not (t.id = any(${a.exclude}::bigint[]))` : sql``;
  const gate = a.autoAssign ? sql`(select count(*) from own) < ${sql.lit(size)}` : sql`false`;
  return sql<ClaimedRow>`${sql.raw(PREPARED)}
    with own as (
      select ${handedOutColumns(sql`coalesce((select s.version from answer_sets s where s.assignment_id = t.assignment_id), 0)`)},
             null::text as expired_assignment_id,
             row_number() over (order by (t.assignment_status = 'skipped'), t.priority, t.priority_score desc nulls last, t.created_at, t.id) as position
      from tasks t
      where t.assignee_id = ${a.userId}::bigint and t.project_id = ${a.projectId}::bigint and t.stage_id = ${a.stageId}::bigint
        and t.archive_id is null and not t.held
        and t.assignment_status in ('assigned', 'saved', 'skipped') ${exclude}
      order by position
      limit ${sql.lit(size)}
    ),
    ${claimCtes(a, gate, sql`greatest(${sql.lit(size)} - (select count(*) from own), 0)`)}
    select id, name, state, assignment_status, assignment_kind, priority, priority_score, data, metadata, lease_expires_at, version, expired_assignment_id
    from (
      select own.*, 0 as part, own.position as sort_position, null::int as sort_priority, null::numeric as sort_score, null::timestamptz as sort_created from own
      union all
      select c.id, c.name, c.state, c.assignment_status, c.assignment_kind, c.priority, c.priority_score, c.data, c.metadata, c.lease_expires_at, c.version,
             c.expired_assignment_id, null, 1, null, c.priority, c.sort_score, c.sort_created from claimed c
    ) handed
    order by part, sort_position, sort_priority, sort_score desc nulls last, sort_created, id::bigint`;
}
