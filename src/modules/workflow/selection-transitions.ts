import { sql } from 'kysely';
import type { StageInfo } from '../projects/project-access.ts';
import { deliveryStatusOnCompletion } from './completion.ts';
import { preAssignee } from './pre-assign-sql.ts';
import { CLEAR_ASSIGNMENT, type SelectionTransition } from './selection-writer.ts';

/** The transitions that apply to a selection of tasks at once (bulk actions and their API calls). */
export type SelectionTransitionId =
  | 'priority' | 'score' | 'batch' | 'hold' | 'unhold' | 'acknowledge' | 'reject' | 'reset'
  | 'send_to_stage' | 'assign' | 'reserve' | 'unassign' | 'release' | 'archive';

/** What a selection transition is given (checked by the caller). */
export interface TransitionParams {
  reason?: string;
  /** optional note (the reason of an archive) */
  note?: string;
  stageId?: number;
  userId?: number;
  /** null clears it */
  batch?: string | null;
  priority?: number;
  /** a decimal string with at most 9 decimals, or null to clear */
  score?: string | null;
}

/** What a transition needs to know about the project, resolved and checked by the caller. */
export interface TransitionContext {
  label: StageInfo;
  /** send to stage */
  target?: StageInfo;
  /** assign / reserve */
  member?: { userId: number; name: string; stageIds: number[] | null };
  /** archive: the Archive record the tasks go into */
  archiveId?: number;
  /** the project has a webhook: tasks entering Ground Truth wait for it (see completion.ts) */
  webhook?: boolean;
}

const SAVED_WORK = sql`t.assignment_status in ('saved', 'pending_finalization')`;
const ASSIGNEE_BEFORE = sql`'assignee', sel.assignee_name`;

/** The state a task has after it is moved into a stage by hand. */
const stateIn = (stage: StageInfo) => stage.kind === 'ground_truth'
  ? sql`'completed'`
  : sql`case when sel.last_submitted_at is null then 'new' else 'in_progress' end`;

/** Archiving: out of every list and queue; open assignments end; saved work is never archived away. */
export function archiveTransition(archiveId: number, note?: string): SelectionTransition {
  return {
    event: 'archived',
    skip: sql`case when ${SAVED_WORK} then 'has saved work' end`,
    set: sql`archive_id = ${archiveId}::bigint, ${CLEAR_ASSIGNMENT}`,
    before: sql`jsonb_build_object(${ASSIGNEE_BEFORE})`,
    after: sql`jsonb_build_object('archive', ${archiveId}::bigint)`,
    note,
    close: 'released',
  };
}

/** The SQL of each selection transition (see BULK_ACTIONS for what they mean to users). */
export function selectionTransition(id: SelectionTransitionId, p: TransitionParams, ctx: TransitionContext): SelectionTransition {
  switch (id) {
    case 'priority':
      return {
        event: 'priority_changed',
        skip: sql`case when t.priority = ${p.priority}::int then 'already has that priority' end`,
        set: sql`priority = ${p.priority}::int`,
        before: sql`jsonb_build_object('priority', sel.priority)`,
        after: sql`jsonb_build_object('priority', ${p.priority}::int)`,
      };
    case 'score':
      return {
        event: 'score_changed',
        skip: sql`case when t.priority_score is not distinct from ${p.score ?? null}::numeric then 'already has that score' end`,
        set: sql`priority_score = ${p.score ?? null}::numeric`,
        before: sql`jsonb_build_object('priorityScore', sel.priority_score)`,
        after: sql`jsonb_build_object('priorityScore', trim_scale(${p.score ?? null}::numeric)::text)`,
      };
    case 'batch':
      return {
        event: 'batch_changed',
        skip: sql`case when t.client_batch_id is not distinct from ${p.batch ?? null}::text then 'already has that client batch ID' end`,
        set: sql`client_batch_id = ${p.batch ?? null}::text`,
        before: sql`jsonb_build_object('clientBatchId', sel.client_batch_id)`,
        after: sql`jsonb_build_object('clientBatchId', ${p.batch ?? null}::text)`,
      };
    case 'hold':
    case 'unhold': {
      const held = id === 'hold';
      return {
        event: held ? 'held' : 'unheld',
        skip: held ? sql`case when t.held then 'already held' end` : sql`case when not t.held then 'not held' end`,
        set: sql`held = ${held}::boolean`,
        before: sql`jsonb_build_object('held', sel.held)`,
        after: sql`jsonb_build_object('held', ${held}::boolean)`,
      };
    }
    case 'acknowledge':
      return {
        event: 'acknowledged',
        skip: sql`case when t.state = 'acknowledged' then 'already acknowledged'
                       when t.state not in ('completed', 'delivered') then 'not completed or delivered' end`,
        set: sql`state = 'acknowledged'`,
        before: sql`jsonb_build_object('state', sel.state)`,
        after: sql`jsonb_build_object('state', 'acknowledged')`,
      };
    case 'reject':
      // back to Label, to the labeler who finalized it last (SPEC §4)
      return {
        event: 'rejected',
        skip: sql`case when t.state not in ('completed', 'delivered') then 'not completed or delivered' end`,
        set: sql`state = 'rejected', stage_id = ${ctx.label.id}::bigint, delivery_status = null`,
        before: sql`jsonb_build_object('state', sel.state, 'stage', sel.stage_name, ${ASSIGNEE_BEFORE})`,
        after: sql`jsonb_build_object('state', 'rejected', 'stage', ${ctx.label.name}::text, 'assignee', nu.name)`,
        note: p.reason,
        close: 'superseded',
        newUser: sql`(select a.user_id from assignments a
                      where a.task_id = t.id and a.stage_id = ${ctx.label.id}::bigint and a.status = 'finalized'
                      order by a.id desc limit 1)`,
        open: { kind: 'returned', stage: sql`${ctx.label.id}::bigint` },
      };
    case 'reset':
      return {
        event: 'reset',
        skip: sql`case when t.last_submitted_at is not null then 'has submitted work'
                       when ${SAVED_WORK} then 'has saved work'
                       when t.state = 'new' and t.stage_id = ${ctx.label.id}::bigint and t.assignee_id is null then 'already new' end`,
        set: sql`state = 'new', stage_id = ${ctx.label.id}::bigint, delivery_status = null`,
        before: sql`jsonb_build_object('state', sel.state, 'stage', sel.stage_name, ${ASSIGNEE_BEFORE})`,
        after: sql`jsonb_build_object('state', 'new', 'stage', ${ctx.label.name}::text, 'assignee', nu.name)`,
        close: 'released',
        newUser: preAssignee(ctx.label),
        open: { kind: 'preassign', stage: sql`${ctx.label.id}::bigint` },
      };
    case 'send_to_stage': {
      const target = ctx.target!;
      const terminal = target.kind === 'ground_truth';
      return {
        event: 'sent_to_stage',
        skip: sql`case when t.stage_id = ${target.id}::bigint then 'already in that stage' end`,
        // into Ground Truth: the completion step (completed, and waiting for the webhook if there is one)
        set: sql`stage_id = ${target.id}::bigint, state = ${stateIn(target)}, delivery_status = ${terminal ? deliveryStatusOnCompletion(Boolean(ctx.webhook)) : null}::text`,
        completes: terminal ? { webhook: Boolean(ctx.webhook) } : undefined,
        enters: target,
        before: sql`jsonb_build_object('stage', sel.stage_name, 'state', sel.state, ${ASSIGNEE_BEFORE})`,
        after: sql`jsonb_build_object('stage', ${target.name}::text, 'state', ${stateIn(target)}, 'assignee', nu.name)`,
        close: 'superseded',
        // entering a stage applies the task's pre-assignment for it; Ground Truth has no work
        newUser: terminal ? sql`null::bigint` : preAssignee(target),
        open: { kind: 'preassign', stage: sql`${target.id}::bigint` },
      };
    }
    case 'assign':
    case 'reserve': {
      const member = ctx.member!;
      const noAccess = member.stageIds === null ? sql`false` : sql`not (t.stage_id = any(${member.stageIds}::bigint[]))`;
      return {
        event: id === 'assign' ? 'assigned' : 'reserved',
        skip: sql`case when st.kind = 'ground_truth' then 'in Ground Truth (no work left)'
                       when t.assignee_id = ${member.userId}::bigint then 'already theirs'
                       when ${noAccess} then 'the member may not work in its stage'
                       when ${SAVED_WORK} then 'someone else has saved work on it' end`,
        before: sql`jsonb_build_object(${ASSIGNEE_BEFORE})`,
        after: sql`jsonb_build_object('assignee', nu.name)`,
        close: 'superseded',
        newUser: sql`${member.userId}::bigint`,
        open: { kind: id === 'assign' ? 'manual' : 'reserved', stage: sql`sel.stage_id` },
      };
    }
    case 'archive':
      return archiveTransition(ctx.archiveId!, p.note);
    case 'unassign':
    case 'release':
      return {
        event: id === 'unassign' ? 'unassigned' : 'released',
        skip: id === 'unassign'
          ? sql`case when t.assignee_id is null then 'not assigned' end`
          : sql`case when t.assignee_id is null then 'not assigned'
                     when ${SAVED_WORK} then 'saved work (Unassign releases it)'
                     when t.assignment_status = 'issue' then 'has an open issue' end`,
        set: CLEAR_ASSIGNMENT,
        before: sql`jsonb_build_object(${ASSIGNEE_BEFORE}, 'status', sel.assignment_status)`,
        after: sql`jsonb_build_object('assignee', null)`,
        close: 'released',
      };
  }
}
