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
 * The claim of SPEC §4, as ONE statement: lock the first free tasks of the stage in pool order
 * (`FOR UPDATE SKIP LOCKED`, so concurrent claims never wait for nor share a row), open an `auto`
 * assignment for each, mirror it on the task with a lease, and record an event.
 *
 * The pool is two index scans: tasks nobody holds (`tasks_pool`), and tasks whose untouched
 * automatic allocation has lapsed (`tasks_leases`) — lease expiry is part of the predicate,
 * so no cleanup job is needed. Manual, pre-assigned, reserved and returned assignments have no
 * lease and are never taken. The lapsed assignment is closed as `expired` before the new one is
 * opened (the InitPlan `(select count(*) from expired)` orders the two writes: one open
 * assignment per task is a unique index).
 */
export function claimSql(a: ClaimArgs): RawBuilder<ClaimedRow> {
  const exclude = a.exclude?.length ? sql`and not (t.id = any(${a.exclude}::bigint[]))` : sql``;
  // a literal (queue sizes are few): with a parameter the planner of the prepared statement cannot
  // tell a LIMIT 1 from a large one and would sort the whole pool instead of reading the index
  const limit = sql.lit(Math.max(1, Math.trunc(a.limit)));
  const candidates = (predicate: RawBuilder<unknown>, previous: RawBuilder<unknown>) => sql`
    select t.id, t.priority, t.priority_score, t.created_at, ${previous} as old_assignment_id
    from tasks t
    where t.project_id = ${a.projectId}::bigint and t.stage_id = ${a.stageId}::bigint
      and t.archive_id is null and not t.held and ${predicate} ${exclude}
    order by t.priority, t.priority_score desc nulls last, t.created_at, t.id
    limit ${limit}
    for update of t skip locked`;
  return sql<ClaimedRow>`${sql.raw(PREPARED)}
    with free as (${candidates(sql`t.assignee_id is null`, sql`null::bigint`)}),
    lapsed as (${candidates(sql`t.lease_expires_at < now() and t.assignment_kind = 'auto' and t.assignment_status = 'assigned'`, sql`t.assignment_id`)}),
    picked as (
      select c.id, c.old_assignment_id, nextval(pg_get_serial_sequence('assignments', 'id')) as assignment_id
      from (select * from free union all select * from lapsed) c
      order by c.priority, c.priority_score desc nulls last, c.created_at, c.id
      limit ${limit}
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
    )
    update tasks t set assignment_id = p.assignment_id, assignee_id = ${a.userId}::bigint, assignment_status = 'assigned',
      assignment_kind = 'auto', lease_expires_at = now() + make_interval(mins => ${a.leaseMinutes}::int),
      has_open_issue = false, last_activity_at = now()
    from picked p where t.id = p.id
    returning ${handedOutColumns(sql`0`)}, p.old_assignment_id::text as expired_assignment_id`;
}
