import { sql } from 'kysely';

/**
 * The user the task `t` is pre-assigned to in a stage (`tasks.pre_assign`, `{ "<stage>": <user id> }`),
 * if still a member of the project. Shared by bulk actions and the workflow: the same rule
 * applies whenever a task enters a stage.
 */
export const preAssignee = (stage: { name: string }) => sql`(
  select pm.user_id from project_members pm
  where pm.project_id = t.project_id and jsonb_typeof(t.pre_assign -> ${stage.name}::text) = 'number'
    and pm.user_id = (t.pre_assign ->> ${stage.name}::text)::bigint)`;
