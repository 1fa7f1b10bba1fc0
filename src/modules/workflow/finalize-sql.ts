import { sql, type RawBuilder } from 'kysely';
import { PREPARED } from '../../db/prepared-statements.ts';
import type { StageInfo } from '../projects/project-access.ts';
import { deliveryStatusOnCompletion } from './completion.ts';
import { preAssigneeIn } from './pre-assign-sql.ts';

/** Where a finalize sends the task from each stage it may be in (review sampling drawn by the caller). */
export interface FinalizeRoute {
  from: StageInfo;
  to: StageInfo;
}

export interface FinalizeArgs {
  projectId: number;
  taskId: number;
  userId: number;
  routes: FinalizeRoute[];
  /** the final answers (Label only; a review accept keeps the answers it reviewed), with the version they start from */
  answers?: { json: string; version: number };
  webhook: boolean;
}

/** What the statement found: `ok`, or why nothing was changed. */
export type FinalizeVerdict = 'ok' | 'not_found' | 'not_yours' | 'issue' | 'read_only' | 'stale' | 'stage_removed';

export interface FinalizeRow {
  verdict: FinalizeVerdict;
  stage_id: string | null;
  stage: string | null;
  state: string | null;
}

/**
 * Finalize (Label) or review accept, as ONE statement with no explicit transaction: lock the task,
 * check that the user holds open work on it, store the final answers if given (optimistic version
 * check), finalize the assignment (its answers become submitted), move the task on along its
 * route (the next stage's pre-assignee gets it, else its pool; Ground Truth: `completed`), record
 * the event. Nothing is written unless the verdict is `ok`. The caller takes the transactional
 * path instead when the task may complete into a project with a webhook (the delivery job is a
 * second statement).
 */
export function finalizeSql(a: FinalizeArgs): RawBuilder<FinalizeRow> {
  const r = a.routes;
  const has = Boolean(a.answers);
  return sql<FinalizeRow>`${sql.raw(PREPARED)}
    with task as (
      select t.id, t.project_id, t.stage_id, t.state, t.assignment_id, t.assignee_id, t.assignment_status, t.pre_assign
      from tasks t where t.id = ${a.taskId}::bigint and t.project_id = ${a.projectId}::bigint and t.archive_id is null
      for update of t
    ),
    route as (
      select r.* from unnest(${r.map((x) => x.from.id)}::bigint[], ${r.map((x) => x.from.name)}::text[], ${r.map((x) => x.from.kind)}::text[],
                             ${r.map((x) => x.to.id)}::bigint[], ${r.map((x) => x.to.name)}::text[], ${r.map((x) => x.to.kind)}::text[])
        as r(from_id, from_name, from_kind, to_id, to_name, to_kind)
      join task on task.stage_id = r.from_id
    ),
    -- a review stage the task enters is locked against its removal, as a key check would (stage-lock.ts)
    target as (
      select s.id from stages s join route on s.id = route.to_id where route.to_kind = 'review'
      for key share of s
    ),
    checked as (
      select case when task.id is null then 'not_found'
                  when task.assignee_id is distinct from ${a.userId}::bigint or task.assignment_status is null then 'not_yours'
                  when task.assignment_status = 'issue' then 'issue'
                  when task.assignment_status not in ('assigned', 'saved', 'pending_finalization', 'skipped') or route.from_id is null then 'read_only'
                  else 'ok' end as verdict
      from (select 1) one left join task on true left join route on true
    ),
    saved as (
      insert into answer_sets (task_id, stage_id, assignment_id, user_id, kind, answers, version, submitted)
      select task.id, task.stage_id, task.assignment_id, ${a.userId}::bigint, 'submission', ${a.answers?.json ?? null}::jsonb, 1, true
      from task, route, checked
      where ${has}::boolean and checked.verdict = 'ok' and route.from_kind = 'label'
        and (route.to_kind <> 'review' or exists (select from target))
        and (${a.answers?.version ?? 0}::int = 0 or exists (select from answer_sets s where s.assignment_id = task.assignment_id))
      on conflict (assignment_id) do update set answers = excluded.answers, version = answer_sets.version + 1, submitted = true, updated_at = now()
        where answer_sets.version = ${a.answers?.version ?? 0}::int
      returning version
    ),
    go as (
      select route.* from route, checked
      where checked.verdict = 'ok' and (route.to_kind <> 'review' or exists (select from target))
        and (not ${has}::boolean or route.from_kind <> 'label' or exists (select from saved))
    ),
    finished as (
      update assignments x set status = 'finalized', outcome = case when go.from_kind = 'review' then 'accepted' end, finalized_at = now(), updated_at = now()
      from task, go where x.id = task.assignment_id
      returning x.id
    ),
    submitted as (
      update answer_sets s set submitted = true, updated_at = now() from finished f
      where s.assignment_id = f.id and not exists (select from saved)
    ),
    nu as (
      select case when go.to_kind = 'ground_truth' then null else ${preAssigneeIn(sql`task`, sql`go.to_name`)} end as user_id, go.to_id
      from task, go
    ),
    ins as (
      -- the InitPlan closes the old assignment first: one open assignment per task is a unique index
      insert into assignments (task_id, stage_id, user_id, status, kind)
      select ${a.taskId}::bigint, nu.to_id, nu.user_id, 'assigned', 'preassign' from nu
      where nu.user_id is not null and (select count(*) from finished) >= 0
      returning id, user_id
    ),
    moved as (
      update tasks t set stage_id = go.to_id, state = case when go.to_kind = 'ground_truth' then 'completed' else 'in_progress' end,
        assignment_id = ins.id, assignee_id = ins.user_id,
        assignment_status = case when ins.id is null then null else 'assigned' end,
        assignment_kind = case when ins.id is null then null else 'preassign' end,
        lease_expires_at = null, has_open_issue = false,
        delivery_status = case when go.to_kind = 'ground_truth' then ${deliveryStatusOnCompletion(a.webhook)}::text end,
        last_submitted_at = now(), last_submitted_by_id = ${a.userId}::bigint, last_activity_at = now()
      from go left join ins on true
      where t.id = ${a.taskId}::bigint
      returning t.state
    ),
    ev as (
      insert into task_events (task_id, project_id, actor_id, kind, before, after)
      select ${a.taskId}::bigint, ${a.projectId}::bigint, ${a.userId}::bigint,
             case when go.from_kind = 'review' then 'review_accepted' else 'finalized' end,
             jsonb_build_object('stage', go.from_name, 'state', task.state),
             jsonb_build_object('stage', go.to_name, 'state', case when go.to_kind = 'ground_truth' then 'completed' else 'in_progress' end,
                                'assignee', (select u.name from ins join users u on u.id = ins.user_id))
      from task, go
    )
    select case when checked.verdict <> 'ok' or exists (select from go) then checked.verdict
                when exists (select from route where route.to_kind = 'review') and not exists (select from target) then 'stage_removed'
                else 'stale' end as verdict,
           (select to_id from go)::text as stage_id,
           -- the stage moved into, or (stage_removed) the one that was not there any more
           coalesce((select to_name from go), (select to_name from route)) as stage, (select state from moved) as state
    from checked`;
}
