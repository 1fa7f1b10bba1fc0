import { sql, type RawBuilder } from 'kysely';

/**
 * The user the task `task` (a table alias) is pre-assigned to in the stage named by `stageName`
 * (`tasks.pre_assign`, `{ "<stage>": <user id> }`), if still a member of the project. The same
 * rule applies whenever a task enters a stage.
 */
export const preAssigneeIn = (task: RawBuilder<unknown>, stageName: RawBuilder<unknown>) => sql`(
  select pm.user_id from project_members pm
  where pm.project_id = ${task}.project_id and jsonb_typeof(${task}.pre_assign -> ${stageName}) = 'number'
    and pm.user_id = (${task}.pre_assign ->> ${stageName})::bigint)`;

/** The pre-assignee of the task `t` in `stage`. */
export const preAssignee = (stage: { name: string }) => preAssigneeIn(sql`t`, sql`${stage.name}::text`);
