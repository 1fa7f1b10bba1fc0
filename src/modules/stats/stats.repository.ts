import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { StageInfo } from '../projects/project-access.ts';
import type { StatRange, StoredStats } from './stats.schemas.ts';

/**
 * The read-only SQL of the project dashboard. Every query is bounded by what its index serves:
 * one pass over the project's live tasks (counts by stage, state and work), finalized work in a
 * time window (`assignments_finalized`), client outcomes in a window (`task_events_client_outcomes`)
 * and the few running jobs. `userId` narrows a query to one member's own figures.
 */

export interface TaskGroupRow {
  stageId: number;
  state: string;
  status: string | null;
  held: boolean;
  assigneeId: number | null;
  failed: boolean;
  n: number;
  expiring: number;
  /** oldest last activity among the group's pool tasks */
  oldestPool: Date | null;
  /** the pool task with that last activity */
  oldestPoolTaskId: number | null;
}

export interface PersonFiguresRow {
  userId: number;
  f7: number;
  f30: number;
  fRange: number;
  medianSeconds: number | null;
  givenAccepted: number;
  givenCorrected: number;
  givenRejected: number;
}

export interface Windows {
  /** first moment of the range (start of its first UTC day) */
  rangeStart: Date;
  /** starts of the 7- and 30-day windows of the People table */
  start7: Date;
  start30: Date;
  /** the earliest of them: what the window queries read */
  earliest: Date;
}

export interface RunningRow {
  kind: 'upload' | 'export' | 'bulk';
  id: number;
  label: string;
  status: string;
  done: number;
  total: number | null;
}

export interface Snapshot {
  figures: StoredStats;
  computedAt: Date;
  computeMs: number;
}

const num = (v: unknown) => Number(v);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const dateOrNull = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
const byUser = (userId: number | null, column: ReturnType<typeof sql.ref>) => (userId === null ? sql`` : sql`and ${column} = ${userId}::bigint`);

export class StatsRepository {
  constructor(readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  /**
   * One pass over the project's live tasks (or one member's): counts per stage, state,
   * assignment status, held, assignee and failed delivery, with the leases that expire within the
   * hour and the oldest pool task's last activity per group.
   */
  async taskGroups(projectId: number, userId: number | null): Promise<TaskGroupRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.stage_id, t.state, t.assignment_status, t.held, t.assignee_id, coalesce(t.delivery_status = 'failed', false) as failed,
             count(*)::int as n,
             count(*) filter (where t.lease_expires_at >= now() and t.lease_expires_at < now() + interval '1 hour')::int as expiring,
             min(t.last_activity_at) filter (where not t.held and t.assignee_id is null) as oldest_pool,
             -- that task itself, from the same pass: the least (activity as epoch seconds, id) pair
             -- (last_activity_at has no index: every write sets it, so indexing it would make no
             -- update HOT; float8 seconds keep it to ~0.5 µs, ties go to the lower id)
             (min(array[extract(epoch from t.last_activity_at)::float8, t.id::float8])
                filter (where not t.held and t.assignee_id is null))[2]::bigint as oldest_pool_task
      from tasks t
      where t.project_id = ${projectId}::bigint and t.archive_id is null ${byUser(userId, sql.ref('t.assignee_id'))}
      group by 1, 2, 3, 4, 5, 6`.execute(this.db);
    return rows.map((r) => ({
      stageId: num(r.stage_id), state: String(r.state), status: (r.assignment_status as string | null) ?? null, held: Boolean(r.held),
      assigneeId: numOrNull(r.assignee_id), failed: Boolean(r.failed), n: num(r.n), expiring: num(r.expiring), oldestPool: dateOrNull(r.oldest_pool),
      oldestPoolTaskId: numOrNull(r.oldest_pool_task),
    }));
  }

  /** Finalized assignments per stage and UTC day since `since`. */
  async finalizedPerDay(stageIds: number[], since: Date, userId: number | null): Promise<{ stageId: number; day: string; n: number }[]> {
    if (!stageIds.length) return [];
    const { rows } = await sql<Record<string, unknown>>`
      select a.stage_id, to_char(a.finalized_at at time zone 'UTC', 'YYYY-MM-DD') as day, count(*)::int as n
      from assignments a
      where a.stage_id = any(${stageIds}::bigint[]) and a.status = 'finalized' and a.finalized_at >= ${since}::timestamptz
        ${byUser(userId, sql.ref('a.user_id'))}
      group by 1, 2`.execute(this.db);
    return rows.map((r) => ({ stageId: num(r.stage_id), day: String(r.day), n: num(r.n) }));
  }

  /** Review outcomes given in review stages since `since`. */
  async reviewOutcomes(reviewStageIds: number[], since: Date): Promise<Record<string, number>> {
    if (!reviewStageIds.length) return {};
    const { rows } = await sql<{ outcome: string; n: number }>`
      select a.outcome, count(*)::int as n from assignments a
      where a.stage_id = any(${reviewStageIds}::bigint[]) and a.status = 'finalized' and a.finalized_at >= ${since}::timestamptz and a.outcome is not null
      group by 1`.execute(this.db);
    return Object.fromEntries(rows.map((r) => [r.outcome, num(r.n)]));
  }

  /**
   * Per person: finalized in the 7- and 30-day windows and in the range, the median time from
   * the assignment (claim) to its finalization over the range, and the review outcomes they gave.
   */
  async personFigures(stageIds: number[], reviewStageIds: number[], w: Windows, userId: number | null): Promise<PersonFiguresRow[]> {
    if (!stageIds.length) return [];
    const { rows } = await sql<Record<string, unknown>>`
      select a.user_id,
             count(*) filter (where a.finalized_at >= ${w.start7}::timestamptz)::int as f7,
             count(*) filter (where a.finalized_at >= ${w.start30}::timestamptz)::int as f30,
             count(*) filter (where a.finalized_at >= ${w.rangeStart}::timestamptz)::int as f_range,
             percentile_cont(0.5) within group (order by extract(epoch from a.finalized_at - a.created_at))
               filter (where a.finalized_at >= ${w.rangeStart}::timestamptz) as median_seconds,
             count(*) filter (where a.outcome = 'accepted' and a.finalized_at >= ${w.rangeStart}::timestamptz and a.stage_id = any(${reviewStageIds}::bigint[]))::int as given_accepted,
             count(*) filter (where a.outcome = 'corrected' and a.finalized_at >= ${w.rangeStart}::timestamptz and a.stage_id = any(${reviewStageIds}::bigint[]))::int as given_corrected,
             count(*) filter (where a.outcome = 'rejected' and a.finalized_at >= ${w.rangeStart}::timestamptz and a.stage_id = any(${reviewStageIds}::bigint[]))::int as given_rejected
      from assignments a
      where a.stage_id = any(${stageIds}::bigint[]) and a.status = 'finalized' and a.finalized_at >= ${w.earliest}::timestamptz
        ${byUser(userId, sql.ref('a.user_id'))}
      group by 1`.execute(this.db);
    return rows.map((r) => ({
      userId: num(r.user_id), f7: num(r.f7), f30: num(r.f30), fRange: num(r.f_range),
      medianSeconds: r.median_seconds === null ? null : Math.round(Number(r.median_seconds)),
      givenAccepted: num(r.given_accepted), givenCorrected: num(r.given_corrected), givenRejected: num(r.given_rejected),
    }));
  }

  /**
   * How the reviews given since `since` judged each labeler's work: a review's labeler is whoever
   * last finalized the task in the Label stage before it.
   */
  async labelOutcomes(labelStageId: number, reviewStageIds: number[], since: Date, userId: number | null): Promise<{ userId: number; outcome: string; n: number }[]> {
    if (!reviewStageIds.length) return [];
    const { rows } = await sql<Record<string, unknown>>`
      select l.user_id, r.outcome, count(*)::int as n
      from assignments r
      cross join lateral (
        select a.user_id from assignments a
        where a.task_id = r.task_id and a.stage_id = ${labelStageId}::bigint and a.status = 'finalized' and a.id < r.id
        order by a.id desc limit 1
      ) l
      where r.stage_id = any(${reviewStageIds}::bigint[]) and r.status = 'finalized' and r.finalized_at >= ${since}::timestamptz and r.outcome is not null
        ${byUser(userId, sql.ref('l.user_id'))}
      group by 1, 2`.execute(this.db);
    return rows.map((r) => ({ userId: num(r.user_id), outcome: String(r.outcome), n: num(r.n) }));
  }

  /** Client outcomes (delivered, acknowledged, rejected) of the project's tasks since `since`. */
  async clientOutcomes(projectId: number, since: Date): Promise<Record<string, number>> {
    const { rows } = await sql<{ kind: string; n: number }>`
      select e.kind, count(*)::int as n from task_events e
      where e.project_id = ${projectId}::bigint and e.kind in ('delivered', 'acknowledged', 'rejected') and e.created_at >= ${since}::timestamptz
      group by 1`.execute(this.db);
    return Object.fromEntries(rows.map((r) => [r.kind, num(r.n)]));
  }

  /** Uploads, exports and bulk operations of the project that are queued or running (a few at most). */
  async running(projectId: number): Promise<RunningRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      (select 'upload' as kind, u.id, u.file_name as label, u.status, u.rows_processed as done, null::int as total
       from uploads u where u.project_id = ${projectId}::bigint and u.status in ('receiving', 'queued', 'processing') and u.deleted_at is null
       order by u.id desc limit 20)
      union all
      (select 'export', x.id, upper(x.format), x.status, x.rows_written, x.rows_total
       from exports x where x.project_id = ${projectId}::bigint and x.status in ('queued', 'running') order by x.id desc limit 20)
      union all
      (select 'bulk', b.id, b.action, b.status, b.processed, b.total
       from bulk_operations b where b.project_id = ${projectId}::bigint and b.status in ('queued', 'running') order by b.id desc limit 20)`.execute(this.db);
    return rows.map((r) => ({
      kind: r.kind as RunningRow['kind'], id: num(r.id), label: String(r.label), status: String(r.status), done: num(r.done), total: numOrNull(r.total),
    }));
  }

  /** Names and project roles of the given users and of every member with the member role. */
  async people(projectId: number, userIds: number[], onlyUserId: number | null): Promise<{ id: number; name: string; email: string; role: string }[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select u.id, u.name, u.email, coalesce(pm.role, case when u.is_admin then 'admin' else 'member' end) as role
      from users u left join project_members pm on pm.user_id = u.id and pm.project_id = ${projectId}::bigint
      where (u.id = any(${userIds}::bigint[]) or (pm.role = 'member' and u.active))
        ${onlyUserId === null ? sql`` : sql`and u.id = ${onlyUserId}::bigint`}
      order by lower(u.name), u.id`.execute(this.db);
    return rows.map((r) => ({ id: num(r.id), name: String(r.name), email: String(r.email), role: String(r.role) }));
  }

  /** The project's stages in workflow order (for the job, which has no viewer's access). */
  async stagesOf(projectId: number): Promise<StageInfo[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select id, name, kind, position, review_percent from stages where project_id = ${projectId}::bigint order by position`.execute(this.db);
    return rows.map((r) => ({ id: num(r.id), name: String(r.name), kind: r.kind as StageInfo['kind'], position: num(r.position), reviewPercent: num(r.review_percent) }));
  }

  async snapshot(projectId: number, userId: number | null, range: StatRange): Promise<Snapshot | null> {
    const { rows } = await sql<Record<string, unknown>>`
      select figures, computed_at, compute_ms from dashboard_snapshots
      where project_id = ${projectId}::bigint and user_id is not distinct from ${userId}::bigint and range_days = ${range}::int`.execute(this.db);
    const r = rows[0];
    return r ? { figures: r.figures as StoredStats, computedAt: dateOrNull(r.computed_at)!, computeMs: num(r.compute_ms) } : null;
  }

  async saveSnapshot(projectId: number, userId: number | null, range: StatRange, figures: StoredStats, computedAt: Date, computeMs: number): Promise<void> {
    await sql`
      insert into dashboard_snapshots (project_id, user_id, range_days, figures, computed_at, compute_ms)
      values (${projectId}::bigint, ${userId}::bigint, ${range}::int, ${JSON.stringify(figures)}::jsonb, ${computedAt}::timestamptz, ${Math.round(computeMs)}::int)
      on conflict on constraint dashboard_snapshots_scope do update
        set figures = excluded.figures, computed_at = excluded.computed_at, compute_ms = excluded.compute_ms
        where dashboard_snapshots.computed_at <= excluded.computed_at`.execute(this.db);
  }
}
