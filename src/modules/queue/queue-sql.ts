import { sql, type RawBuilder } from 'kysely';
import { PREPARED } from '../../db/prepared-statements.ts';
import { handedOutColumns, type HandedOutSqlRow } from '../workflow/claim-sql.ts';

/**
 * The requester's own open work in a stage for "request next": assigned / reserved / saved first,
 * then skipped ones, each in allocation order. Pending drafts wait for "Finalize all"; issues
 * are out of the queue until resolved.
 */
export function ownNextSql(projectId: number, stageId: number, userId: number, limit: number, exclude: number[] = []): RawBuilder<HandedOutSqlRow> {
  return sql<HandedOutSqlRow>`${sql.raw(PREPARED)}
    select ${handedOutColumns(sql`coalesce((select a.version from answer_sets a where a.assignment_id = t.assignment_id), 0)`)} from tasks t
    where t.assignee_id = ${userId}::bigint and t.project_id = ${projectId}::bigint and t.stage_id = ${stageId}::bigint
      and t.archive_id is null and not t.held
      and t.assignment_status in ('assigned', 'saved', 'skipped')
      ${exclude.length ? sql`and not (t.id = any(${exclude}::bigint[]))` : sql``}
    order by (t.assignment_status = 'skipped'), t.priority, t.priority_score desc nulls last, t.created_at, t.id
    limit ${limit}::int`;
}
