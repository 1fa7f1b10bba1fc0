import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { StageInfo } from '../projects/project-access.ts';
import { lockStageForEntry } from './stage-lock.ts';
import type { AssignmentKind } from './task-states.ts';

/**
 * How one transition changes a selection of tasks, as SQL fragments over the locked selection
 * `sel` (columns listed in SELECTED below). `skip` yields the reason a task is left alone, or null.
 */
export interface SelectionTransition {
  /** the task event kind written for each changed task */
  event: string;
  skip: RawBuilder<unknown>;
  /** assignments of `update tasks t set …`, may use `sel` (last_activity_at is always set) */
  set?: RawBuilder<unknown>;
  before: RawBuilder<unknown>;
  /** may use `nu.name`, the new assignee's name, when `open` is set */
  after: RawBuilder<unknown>;
  note?: string;
  /** close the open assignment of every changed task with this status */
  close?: 'released' | 'superseded';
  /** open a new assignment for `sel.new_user_id` (tasks where it is null stay unassigned) */
  open?: { kind: AssignmentKind; stage: RawBuilder<unknown> };
  /** per task: who gets the new assignment */
  newUser?: RawBuilder<unknown>;
  /** the stage the changed tasks enter (a review stage is locked against its removal) */
  enters?: StageInfo;
  /** the tasks enter Ground Truth: with a webhook, the completion step queues a delivery for each changed one (see completion.ts) */
  completes?: { webhook: boolean };
}

/**
 * A chunked transition (a bulk job, auto-archiving) works in chunks of this many tasks per lane,
 * one transaction each: LANES chunks are in flight at once, and a stopping server waits for them
 * (up to 15 s, see plugins/app/boss.ts) before it hands the job back.
 */
export const CHUNK_SIZE = 50_000;

/** The sort memory of a chunk's transaction: its selection of up to CHUNK_SIZE rows is sorted in memory. */
export const CHUNK_WORK_MEM = '64MB';

/**
 * A chunked transition walks its selection in this many lanes side by side, each on its own
 * connection: a single UPDATE uses one core, and most of a transition's time is PostgreSQL
 * maintaining the indexes of the rows it changes. Each lane is one contiguous range of task ids
 * (about as many selected tasks in each): lanes that interleave (id modulo 2) fight over every
 * heap and index page they share. Measured on 100,000 priority changes among 1,000,000 tasks:
 * one statement 4.4–7.1 s, two lanes by id modulo 4.5 s, two lanes by id range 3.1–3.2 s.
 */
export const LANES = 2;

/** Task ids above any real one: the end of the last lane. */
export const NO_END = Number.MAX_SAFE_INTEGER;

/** One lane of a chunked walk: the tasks with `afterId < id <= upTo`, resumed after `afterId`. */
export interface LaneRange {
  afterId: number;
  upTo: number;
}

export interface ChunkResult {
  /** tasks looked at */
  seen: number;
  changed: number;
  skipped: Record<string, number>;
  /** highest task id looked at (the resume point of a chunked job) */
  lastId: number;
  /** the changed tasks, when the transition completes them for a webhook (they need a delivery) */
  completedIds: number[];
}

export interface ChunkOptions {
  projectId: number;
  actorId: number | null;
  /** only tasks with an id above this one */
  afterId?: number;
  /** at most this many tasks, in id order */
  limit?: number;
  /** only tasks with an id up to this one (the end of a lane of a chunked walk) */
  upTo?: number;
}

/** Columns of the locked selection every action can read. */
const SELECTED = sql`
  t.id, t.stage_id, st.name as stage_name, t.state, t.priority, trim_scale(t.priority_score)::text as priority_score,
  t.client_batch_id, t.held, t.assignment_id, t.assignee_id, u.name as assignee_name, t.assignment_status,
  t.last_submitted_at, t.pre_assign`;

export const CLEAR_ASSIGNMENT = sql`assignment_id = null, assignee_id = null, assignment_status = null,
  assignment_kind = null, lease_expires_at = null, has_open_issue = false`;

/**
 * Writes set-based transitions: one statement (or two, when an assignment is opened) over a
 * selection of tasks, locked in id order so two of them never deadlock. Used by the workflow only.
 */
export class SelectionWriter {
  constructor(private readonly em: EntityManager) {}

  /**
   * Applies an action to the tasks matching `where` (or the next chunk of them, in id order).
   * Rows are locked in id order, so two bulk actions never deadlock. Must run in a transaction.
   */
  async apply(action: SelectionTransition, where: RawBuilder<unknown>, opts: ChunkOptions): Promise<ChunkResult> {
    const db = this.em.getKysely();
    if (action.enters) await lockStageForEntry(this.em, action.enters);
    const selection = sql`
      select ${SELECTED}, ${action.newUser ?? sql`null::bigint`} as new_user_id, ${action.skip} as reason
      from tasks t
      join stages st on st.id = t.stage_id
      left join users u on u.id = t.assignee_id
      where ${where} and t.id > ${opts.afterId ?? 0} ${opts.upTo === undefined ? sql`` : sql`and t.id <= ${opts.upTo}`}
      order by t.id
      ${opts.limit ? sql`limit ${opts.limit}` : sql``}
      for update of t`;
    const close = action.close
      ? sql`, closed as (update assignments a set status = ${action.close}, updated_at = now()
             from sel where sel.reason is null and a.id = sel.assignment_id)`
      : sql``;
    const set = (...more: RawBuilder<unknown>[]) => sql.join([...(action.set ? [action.set] : []), ...more, sql`last_activity_at = now()`], sql`, `);
    const events = (from: RawBuilder<unknown>) => sql`
      insert into task_events (task_id, project_id, actor_id, kind, before, after, note)
      select sel.id, ${opts.projectId}::bigint, ${opts.actorId}::bigint, ${action.event}::text, ${action.before}, ${action.after}, ${action.note ?? null}::text
      ${from}`;

    if (!action.open) {
      // one statement: lock, classify, close, update, record
      const { rows } = await sql<{ reason: string | null; n: number; last_id: string; ids: string[] | null }>`
        with sel as (${selection})
        ${close},
        upd as (update tasks t set ${set()} from sel where sel.reason is null and t.id = sel.id),
        ev as (${events(sql`from sel where sel.reason is null`)})
        select reason, count(*)::int as n, max(id)::text as last_id,
               ${action.completes?.webhook ? sql`array_agg(id::text order by id)` : sql`null::text[]`} as ids
        from sel group by reason`.execute(db);
      return summarize(rows);
    }

    // Opening an assignment must follow closing the old one (one open assignment per task is a
    // unique index, checked row by row), so this takes two statements in the same transaction.
    const { rows: classified } = await sql<{ id: string; reason: string | null }>`
      with sel as (${selection}) ${close}
      select id::text, reason from sel`.execute(db);
    const eligible = classified.filter((r) => r.reason === null).map((r) => Number(r.id));
    if (eligible.length) {
      await sql`
        with sel as (
          select ${SELECTED}, ${action.newUser ?? sql`null::bigint`} as new_user_id
          from tasks t join stages st on st.id = t.stage_id left join users u on u.id = t.assignee_id
          where t.id = any(${eligible}::bigint[])
        ),
        ins as (
          insert into assignments (task_id, stage_id, user_id, status, kind)
          select sel.id, ${action.open.stage}, sel.new_user_id, 'assigned', ${action.open.kind}::text from sel where sel.new_user_id is not null
          returning id, task_id, user_id
        ),
        upd as (
          update tasks t set ${set(CLEAR_ASSIGNMENT)}
          from sel where t.id = sel.id and sel.new_user_id is null
        ),
        upd_assigned as (
          update tasks t set ${set(sql`assignment_id = ins.id, assignee_id = ins.user_id, assignment_status = 'assigned',
            assignment_kind = ${action.open.kind}::text, lease_expires_at = null, has_open_issue = false`)}
          from sel join ins on ins.task_id = sel.id where t.id = sel.id
        )
        ${events(sql`from sel left join users nu on nu.id = sel.new_user_id`)}`.execute(db);
    }
    const counted = new Map<string | null, { n: number; last: number }>();
    for (const r of classified) {
      const entry = counted.get(r.reason) ?? { n: 0, last: 0 };
      entry.n += 1;
      entry.last = Math.max(entry.last, Number(r.id));
      counted.set(r.reason, entry);
    }
    const result = summarize([...counted].map(([reason, e]) => ({ reason, n: e.n, last_id: String(e.last), ids: null })));
    if (action.completes?.webhook) result.completedIds = eligible;
    return result;
  }

  /**
   * Sets a priority and/or score per task (RedBrick's call) in one statement: unchanged tasks
   * are left alone, each changed task gets one event. Task ids must be unique.
   */
  async setPriorities(projectId: number, actorId: number, items: PriorityItem[]): Promise<{ seen: number; changed: number }> {
    const { rows } = await sql<{ seen: number; changed: number }>`
      with input as (
        select * from unnest(${items.map((i) => i.taskId)}::bigint[], ${items.map((i) => i.priority ?? null)}::int[],
                             ${items.map((i) => i.priorityScore ?? null)}::numeric[], ${items.map((i) => i.priorityScore !== undefined)}::boolean[])
          as i(task_id, priority, score, has_score)
      ),
      sel as (
        select t.id, t.priority as old_priority, t.priority_score as old_score,
               coalesce(i.priority, t.priority) as new_priority,
               case when i.has_score then i.score else t.priority_score end as new_score
        from tasks t join input i on i.task_id = t.id
        where t.project_id = ${projectId} and t.archive_id is null
        order by t.id
        for update of t
      ),
      changed as (
        select * from sel where new_priority <> old_priority or new_score is distinct from old_score
      ),
      upd as (
        update tasks t set priority = c.new_priority, priority_score = c.new_score, last_activity_at = now()
        from changed c where t.id = c.id
      ),
      ev as (
        insert into task_events (task_id, project_id, actor_id, kind, before, after)
        select c.id, ${projectId}::bigint, ${actorId}::bigint, 'priority_changed',
               jsonb_build_object('priority', c.old_priority, 'priorityScore', trim_scale(c.old_score)::text),
               jsonb_build_object('priority', c.new_priority, 'priorityScore', trim_scale(c.new_score)::text)
        from changed c
      )
      select (select count(*) from sel)::int as seen, (select count(*) from changed)::int as changed`.execute(this.em.getKysely());
    return rows[0];
  }
}

/** One entry of the per-task priority call; an absent field stays as it is, a null score clears it. */
export interface PriorityItem {
  taskId: number;
  priority?: number;
  priorityScore?: string | null;
}

function summarize(rows: { reason: string | null; n: number; last_id: string; ids: string[] | null }[]): ChunkResult {
  const result: ChunkResult = { seen: 0, changed: 0, skipped: {}, lastId: 0, completedIds: [] };
  for (const r of rows) {
    result.seen += r.n;
    result.lastId = Math.max(result.lastId, Number(r.last_id));
    if (r.reason === null) {
      result.changed += r.n;
      result.completedIds = (r.ids ?? []).map(Number);
    } else result.skipped[r.reason] = r.n;
  }
  return result;
}
