import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { PREPARED } from '../../db/prepared-statements.ts';
import type { StageInfo } from '../projects/project-access.ts';
import type { AssignmentKind } from './task-states.ts';
import { nextWorkSql, type ClaimArgs, type ClaimedRow } from './claim-sql.ts';
import { finalizeSql, type FinalizeArgs, type FinalizeRow } from './finalize-sql.ts';
import { deliveryStatusOnCompletion, queueDeliveries } from './completion.ts';
import { preAssignee } from './pre-assign-sql.ts';
import { lockStageForEntry } from './stage-lock.ts';
import { CHUNK_WORK_MEM, LANES, NO_END, SelectionWriter, type ChunkOptions, type ChunkResult, type LaneRange, type PriorityItem, type SelectionTransition } from './selection-writer.ts';

/** The task a single-task transition acts on: locked by the caller, with its open assignment. */
export interface HeldTask {
  id: number;
  projectId: number;
  state: string;
  assignmentId: number | null;
  assigneeId: number | null;
  status: string | null;
}

/** Where a transition left a task: its stage (as the API names it) and state. */
export interface Moved {
  stage: { id: number; name: string };
  state: string;
}

/** Where a finished assignment sends its task next, and what it is recorded as. */
export interface MoveOn {
  from: StageInfo;
  to: StageInfo;
  /** the event kind: finalized, review_accepted, review_corrected */
  kind: string;
  outcome: 'accepted' | 'corrected' | null;
  /** the project has a webhook: a task entering Ground Truth waits for it */
  webhook: boolean;
}

/**
 * The one owner of task state. Only this module writes a task's workflow columns (stage, state,
 * held, issue flag, the mirror of the open assignment, lease, delivery status, last submitted,
 * activity), the `assignments` table and `task_events`. Every transition is one method here (or,
 * for a selection of tasks, one entry of selection-transitions.ts applied by `applyToSelection`),
 * and writes its own event. Callers check permissions and inputs, lock the task when they act on
 * one, and run multi-statement transitions in a transaction.
 *
 * Transitions: create (create-sql.ts, run by the upload job), request next (the user's own work,
 * then the claim, with lease expiry),
 * save, submit draft, finalize / review accept / correct (`moveOn`), finalize all (the queue's loop
 * over `moveOn`), skip, raise issue, resolve issue, review reject, the selection transitions (send
 * to stage, assign, unassign, reserve, release, hold, unhold, reject, acknowledge, reset to new,
 * priority, score, client batch, archive), restore, and delivery (feed, webhook, failure).
 */
export class Workflow {
  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {}

  private get db() {
    return this.em.getKysely();
  }

  // ── a selection of tasks ────────────────────────────────────────────────────────────────────

  /**
   * Applies a selection transition (or the next chunk of it) and runs the completion step for
   * the tasks it moved into Ground Truth. Must run in a transaction.
   */
  async applyToSelection(transition: SelectionTransition, where: RawBuilder<unknown>, opts: ChunkOptions): Promise<ChunkResult> {
    const result = await new SelectionWriter(this.em).apply(transition, where, opts);
    if (transition.completes?.webhook) await queueDeliveries(this.em, this.boss, result.completedIds);
    return result;
  }

  /**
   * Splits the tasks matching `where` into LANES contiguous id ranges of about as many tasks each
   * (one pass over the selection's ids), for `applyInChunks`.
   */
  async splitIntoLanes(where: RawBuilder<unknown>): Promise<LaneRange[]> {
    const fractions = Array.from({ length: LANES - 1 }, (_, i) => (i + 1) / LANES);
    const { rows } = await sql<{ ends: (string | null)[] | null }>`
      select percentile_disc(${fractions}::float8[]) within group (order by t.id)::text[] as ends
      from tasks t where ${where}`.execute(this.db);
    // no task matches: the first lane covers every id, the others none
    const ends = [...(rows[0]?.ends ?? fractions.map(() => null)).map((e) => (e === null ? NO_END : Number(e))), NO_END];
    return ends.map((upTo, lane) => ({ afterId: lane === 0 ? 0 : ends[lane - 1], upTo }));
  }

  /**
   * Applies a selection transition chunk by chunk in id order, in lanes side by side (each on its
   * own connection, over its own range of task ids, see `splitIntoLanes`). Each chunk commits in
   * its own transaction together with whatever `onChunk` records (progress, counters), so a crash
   * loses nothing and a re-run resumes each lane after its `lanes[lane].afterId`, handed to
   * `onChunk` as where the chunk started. A lane that fails lets the others finish their chunk,
   * then the first error is thrown.
   */
  async applyInChunks(
    transition: SelectionTransition,
    where: RawBuilder<unknown>,
    opts: Omit<ChunkOptions, 'afterId' | 'upTo'> & { lanes: LaneRange[]; limit: number; signal?: AbortSignal },
    onChunk: (em: EntityManager, chunk: ChunkResult, lane: number, afterId: number) => Promise<void>,
  ): Promise<void> {
    let failed = false;
    const walk = async (lane: number) => {
      let { afterId } = opts.lanes[lane];
      const { upTo } = opts.lanes[lane];
      const em = this.em.fork();
      while (!failed && afterId < upTo) {
        opts.signal?.throwIfAborted();
        const chunk = await em.transactional(async (tx) => {
          // a chunk sorts its selection by id before it locks it: in PostgreSQL's default 4 MB
          // that sort of up to a lane's worth of rows spilled to disk (5 MB for 50,000 archived tasks)
          await tx.getConnection().execute(`set local work_mem = '${CHUNK_WORK_MEM}'`);
          const applied = await new Workflow(tx, this.boss).applyToSelection(transition, where, { ...opts, afterId, upTo });
          if (applied.seen > 0) await onChunk(tx, applied, lane, afterId);
          return applied;
        });
        if (chunk.seen < opts.limit) return;
        afterId = chunk.lastId;
      }
    };
    const outcomes = await Promise.allSettled(opts.lanes.map((_, lane) => walk(lane).catch((err: unknown) => {
      failed = true;
      throw err;
    })));
    const error = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (error) throw error.reason;
  }

  /** RedBrick's priority call: a priority and/or score per task, one statement, one event per changed task. */
  setPriorities(projectId: number, actorId: number, items: PriorityItem[]): Promise<{ seen: number; changed: number }> {
    return new SelectionWriter(this.em).setPriorities(projectId, actorId, items);
  }

  // ── one task, by its assignee (SPEC §4) ─────────────────────────────────────────────────────

  /** Request next as one statement: the user's own work in the stage first, then the claim up to the queue size (see claim-sql.ts). */
  async nextWork(args: ClaimArgs & { autoAssign: boolean }): Promise<ClaimedRow[]> {
    return (await nextWorkSql(args).execute(this.db)).rows;
  }

  /** Finalize or review accept as one statement, checks included (see finalize-sql.ts): the API's hot path. */
  async finalizeAtOnce(args: FinalizeArgs): Promise<FinalizeRow> {
    return (await finalizeSql(args).execute(this.db)).rows[0];
  }

  /** Save: the draft is stored by the caller; the assignment is `saved` (or stays pending) and the task `in_progress`. */
  async save(task: HeldTask, actorId: number, version: number): Promise<void> {
    const status = task.status === 'pending_finalization' ? 'pending_finalization' : 'saved';
    await this.setStatus(task, status, { startWork: true });
    await this.event(task, actorId, 'answers_saved', { before: { status: task.status, state: task.state }, after: { status, version } });
  }

  /** Submit draft: waiting for "Finalize" (still editable). */
  async submitDraft(task: HeldTask, actorId: number, version: number): Promise<void> {
    await this.setStatus(task, 'pending_finalization', { startWork: true, submittedBy: actorId });
    await this.event(task, actorId, 'draft_submitted', { before: { status: task.status }, after: { status: 'pending_finalization', version } });
  }

  /** Skip: to the end of the user's own queue; the task stays theirs. */
  async skip(task: HeldTask, actorId: number): Promise<void> {
    await this.setStatus(task, 'skipped');
    await this.event(task, actorId, 'skipped', { before: { status: task.status }, after: { status: 'skipped' } });
  }

  /** Raise an issue: out of the queue until an admin or manager answers it. */
  async raiseIssue(task: HeldTask, actorId: number, comment: string): Promise<void> {
    await this.setStatus(task, 'issue', { issueComment: comment });
    await this.event(task, actorId, 'issue_raised', { note: comment, before: { status: task.status }, after: { status: 'issue' } });
  }

  /** Resolve an issue: back to the same user, `saved` when they have a draft, else `assigned`. */
  async resolveIssue(task: HeldTask, actorId: number, response: string, hasDraft: boolean): Promise<void> {
    const status = hasDraft ? 'saved' : 'assigned';
    await this.setStatus(task, status, { issueResponse: response });
    await this.event(task, actorId, 'issue_resolved', { note: response, before: { status: 'issue' }, after: { status, assigneeId: task.assigneeId } });
  }

  /**
   * Finalize (Label), review accept or correct: the assignment is finalized (its answers become
   * submitted) and the task enters `to` — a review stage (its pre-assignee gets it, else the pool)
   * or Ground Truth, where the completion step runs.
   */
  async moveOn(task: HeldTask, actorId: number, move: MoveOn): Promise<Moved> {
    const completed = move.to.kind === 'ground_truth';
    const state = completed ? 'completed' : 'in_progress';
    await this.finishAndEnter(task, move.outcome, move.to, {
      state, deliveryStatus: completed ? deliveryStatusOnCompletion(move.webhook) : null, submittedBy: actorId,
      event: { actorId, kind: move.kind, before: { stage: move.from.name, state: task.state } },
    });
    if (completed && move.webhook) await queueDeliveries(this.em, this.boss, [task.id]);
    return { stage: { id: move.to.id, name: move.to.name }, state };
  }

  /** Review reject: back to Label, to the labeler who finalized it last (`returned`), with the reason. */
  async reviewReject(task: HeldTask, actorId: number, move: { from: StageInfo; label: StageInfo; reason: string }): Promise<Moved> {
    const labeler = await this.lastFinalizer(task.id, move.label.id);
    await this.finishAndEnter(task, 'rejected', move.label, {
      state: 'rejected', assignTo: labeler, kind: 'returned',
      event: { actorId, kind: 'review_rejected', note: move.reason, before: { stage: move.from.name, state: task.state } },
    });
    return { stage: { id: move.label.id, name: move.label.name }, state: 'rejected' };
  }

  // ── restore and delivery ────────────────────────────────────────────────────────────────────

  /**
   * Restore: an archive's tasks come back, with their history; a task whose name is taken by a
   * live task (uploaded again meanwhile) stays archived and is counted as a clash. Run in a transaction.
   */
  async restore(projectId: number, archiveId: number, actorId: number): Promise<{ restored: number; clashes: number }> {
    const { rows } = await sql<{ restored: number; clashes: number }>`
      with candidates as (
        select t.id, exists (select 1 from tasks o where o.project_id = t.project_id and o.name = t.name and o.archive_id is null) as clash
        from tasks t where t.archive_id = ${archiveId} and t.project_id = ${projectId}
        order by t.id
        for update of t
      ),
      upd as (
        update tasks t set archive_id = null, last_activity_at = now()
        from candidates c where t.id = c.id and not c.clash
      ),
      ev as (
        insert into task_events (task_id, project_id, actor_id, kind, before, after)
        select c.id, ${projectId}::bigint, ${actorId}::bigint, 'restored', jsonb_build_object('archive', ${archiveId}::bigint), null
        from candidates c where not c.clash
      )
      select count(*) filter (where not clash)::int as restored, count(*) filter (where clash)::int as clashes from candidates`.execute(this.db);
    return rows[0];
  }

  /**
   * Deliver through the feed, at least once: the next completed tasks after `afterId` (id order)
   * that do not wait for the webhook are handed out as `sent` (again, when an earlier page was
   * never confirmed). `confirmUpTo` (the cursor the client came back with) first confirms the
   * receipt of every sent task up to it. Returns the handed-out tasks' ids.
   */
  async deliverFeed(projectId: number, actorId: number, { afterId, limit, confirmUpTo }: { afterId: number; limit: number; confirmUpTo: number | null }): Promise<number[]> {
    if (confirmUpTo !== null) await this.confirmReceipt(projectId, actorId, sql`t.id <= ${confirmUpTo}::bigint`);
    const { rows } = await sql<{ id: string }>`
      with sel as (
        select t.id from tasks t
        where t.project_id = ${projectId}::bigint and t.state = 'completed' and t.archive_id is null and t.id > ${afterId}::bigint
          and (t.delivery_status is null or t.delivery_status in ('failed', 'sent'))
        order by t.id limit ${limit}::int
        for update of t
      )
      update tasks t set delivery_status = 'sent' from sel where t.id = sel.id
      returning t.id::text`.execute(this.db);
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  /** The client confirms receipt of tasks the feed sent (`which`: a condition over `tasks t`): they become `delivered`. */
  async confirmReceipt(projectId: number, actorId: number, which: RawBuilder<unknown>): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      with upd as (
        update tasks t set state = 'delivered', delivery_status = 'delivered', last_activity_at = now()
        where t.project_id = ${projectId}::bigint and t.state = 'completed' and t.delivery_status = 'sent' and ${which}
        returning t.id
      ),
      ev as (
        insert into task_events (task_id, project_id, actor_id, kind, before, after)
        select upd.id, ${projectId}::bigint, ${actorId}::bigint, 'delivered', '{"state": "completed"}', '{"state": "delivered", "via": "feed"}' from upd
      )
      select count(*)::int as n from upd`.execute(this.db);
    return rows[0].n;
  }

  /** Deliver by webhook: the receiver answered 2xx. */
  async deliveredByWebhook(taskId: number, projectId: number, url: string): Promise<void> {
    await sql`with upd as (update tasks set state = 'delivered', delivery_status = 'delivered', last_activity_at = now()
                where id = ${taskId}::bigint and state = 'completed' returning id)
              insert into task_events (task_id, project_id, actor_id, kind, before, after)
              select id, ${projectId}::bigint, null, 'delivered', '{"state": "completed"}', jsonb_build_object('state', 'delivered', 'via', 'webhook', 'url', ${url}::text) from upd`.execute(this.db);
  }

  /** The webhook's progress on a completed task; `from`: only when the status is that one now. */
  async setDeliveryStatus(taskId: number, status: 'pending' | 'delivering' | 'failed' | null, from?: string): Promise<void> {
    await sql`update tasks set delivery_status = ${status}::text where id = ${taskId}::bigint and state = 'completed'
              and (${from ?? null}::text is null or delivery_status = ${from ?? null}::text)`.execute(this.db);
  }

  /** The webhook gave up (or was refused): the task is `failed` for the webhook (the feed offers it), with the error in its history. */
  async deliveryFailed(taskId: number, projectId: number, error: string): Promise<void> {
    await this.setDeliveryStatus(taskId, 'failed');
    await sql`insert into task_events (task_id, project_id, actor_id, kind, note) values (${taskId}::bigint, ${projectId}::bigint, null, 'delivery_failed', ${error}::text)`.execute(this.db);
  }

  // ── the statements behind the single-task transitions ──────────────────────────────────────

  /** Sets the status of the open assignment and mirrors it on the task (touched work loses its lease). */
  private async setStatus(task: HeldTask, status: 'saved' | 'pending_finalization' | 'skipped' | 'issue' | 'assigned', extra: { issueComment?: string; issueResponse?: string; startWork?: boolean; submittedBy?: number } = {}): Promise<void> {
    await sql`update assignments set status = ${status}::text, updated_at = now(),
        skipped_at = case when ${status}::text = 'skipped' then now() else null end,
        issue_comment = coalesce(${extra.issueComment ?? null}::text, issue_comment),
        issue_response = coalesce(${extra.issueResponse ?? null}::text, issue_response)
      where id = ${task.assignmentId}::bigint`.execute(this.db);
    await sql`update tasks set assignment_status = ${status}::text, lease_expires_at = null,
        has_open_issue = ${status === 'issue'}::boolean,
        state = case when ${extra.startWork ?? false}::boolean and state in ('new', 'rejected') then 'in_progress' else state end,
        last_submitted_at = case when ${extra.submittedBy ?? null}::bigint is null then last_submitted_at else now() end,
        last_submitted_by_id = coalesce(${extra.submittedBy ?? null}::bigint, last_submitted_by_id),
        last_activity_at = now()
      where id = ${task.id}::bigint`.execute(this.db);
  }

  private async event(task: HeldTask, actorId: number | null, kind: string, e: { before?: unknown; after?: unknown; note?: string | null }): Promise<void> {
    await sql`insert into task_events (task_id, project_id, actor_id, kind, before, after, note)
      values (${task.id}::bigint, ${task.projectId}::bigint, ${actorId}::bigint, ${kind}::text,
              ${e.before === undefined ? null : JSON.stringify(e.before)}::jsonb, ${e.after === undefined ? null : JSON.stringify(e.after)}::jsonb, ${e.note ?? null}::text)`.execute(this.db);
  }

  /** The labeler who last finalized the task in the Label stage. */
  private async lastFinalizer(taskId: number, stageId: number): Promise<number | null> {
    const { rows } = await sql<{ user_id: string }>`select user_id from assignments
      where task_id = ${taskId}::bigint and stage_id = ${stageId}::bigint and status = 'finalized' order by id desc limit 1`.execute(this.db);
    return rows[0] ? Number(rows[0].user_id) : null;
  }

  /**
   * Finalizes the task's open assignment (with a review outcome in review stages; its answers
   * become submitted) and moves the task into `stage`, in one statement: opens an assignment for
   * `assignTo` (kind given), or for the stage's pre-assignee, or leaves it in the pool. Ground
   * Truth has no work: the task just becomes `completed`.
   */
  private async finishAndEnter(task: HeldTask, outcome: 'accepted' | 'rejected' | 'corrected' | null, stage: StageInfo, opts: { state: string; assignTo?: number | null; kind?: AssignmentKind; deliveryStatus?: string | null; submittedBy?: number | null; event: { actorId: number; kind: string; before: Record<string, unknown>; note?: string } }): Promise<void> {
    const e = opts.event;
    await lockStageForEntry(this.em, stage);
    const terminal = stage.kind === 'ground_truth';
    const who = terminal ? sql`null::bigint` : opts.assignTo ? sql`${opts.assignTo}::bigint` : preAssignee(stage);
    const kind = opts.assignTo ? (opts.kind ?? 'manual') : 'preassign';
    await sql`${sql.raw(PREPARED)}
      with finished as (
        update assignments set status = 'finalized', outcome = ${outcome}::text, finalized_at = now(), updated_at = now()
        where id = ${task.assignmentId}::bigint returning id
      ),
      submitted as (update answer_sets s set submitted = true, updated_at = now() from finished f where s.assignment_id = f.id),
      nu as (select ${who} as user_id from tasks t where t.id = ${task.id}::bigint),
      ins as (
        -- the InitPlan closes the old assignment first: one open assignment per task is a unique index
        insert into assignments (task_id, stage_id, user_id, status, kind)
        select ${task.id}::bigint, ${stage.id}::bigint, nu.user_id, 'assigned', ${kind}::text from nu
        where nu.user_id is not null and (select count(*) from finished) >= 0
        returning id, user_id
      ),
      ev as (
        insert into task_events (task_id, project_id, actor_id, kind, before, after, note)
        select ${task.id}::bigint, ${task.projectId}::bigint, ${e.actorId}::bigint, ${e.kind}::text, ${JSON.stringify(e.before)}::jsonb,
               jsonb_build_object('stage', ${stage.name}::text, 'state', ${opts.state}::text, 'assignee', (select u.name from ins join users u on u.id = ins.user_id)),
               ${e.note ?? null}::text
      )
      update tasks t set stage_id = ${stage.id}::bigint, state = ${opts.state}::text,
        assignment_id = ins.id, assignee_id = ins.user_id,
        assignment_status = case when ins.id is null then null else 'assigned' end,
        assignment_kind = case when ins.id is null then null else ${kind}::text end,
        lease_expires_at = null, has_open_issue = false, delivery_status = ${opts.deliveryStatus ?? null}::text,
        last_submitted_at = case when ${opts.submittedBy ?? null}::bigint is null then last_submitted_at else now() end,
        last_submitted_by_id = coalesce(${opts.submittedBy ?? null}::bigint, last_submitted_by_id),
        last_activity_at = now()
      from (select 1) one left join ins on true
      where t.id = ${task.id}::bigint`.execute(this.db);
  }
}
