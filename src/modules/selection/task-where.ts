import { sql, type RawBuilder } from 'kysely';
import type { TaskFilter } from './task-filter.ts';

/** Who looks at the tasks of which project. */
export interface TaskListScope {
  projectId: number;
  viewerId: number;
  /** members see only tasks assigned or reserved to them */
  onlyAssignedToViewer: boolean;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The project's distinct client batch IDs that match an ILIKE pattern. "Batch contains" compares
 * against these instead of running ILIKE on every task: batch IDs repeat (a batch is thousands of
 * tasks) and share their frequent parts ("2026"), which makes a trigram index read most of its
 * posting lists. The distinct values come from a loose index scan of tasks_list_batch (one
 * descent per distinct value, ~10 µs each), so `client_batch_id = any(…)` then uses the btree.
 * Same rows as `client_batch_id ilike pattern`: a value matches iff it is one of these.
 */
function matchingBatchIds(projectId: number, pattern: string): RawBuilder<unknown> {
  return sql`with recursive b(v) as (
      (select client_batch_id from tasks where project_id = ${projectId} and archive_id is null and client_batch_id is not null
       order by client_batch_id limit 1)
      union all
      select (select x.client_batch_id from tasks x where x.project_id = ${projectId} and x.archive_id is null and x.client_batch_id > b.v
              order by x.client_batch_id limit 1)
      from b where b.v is not null
    ) select v from b where v ilike ${pattern}`;
}

/**
 * `name ILIKE '%q%'` (or, when q is a whole number, also `id = q`), answered by the trigram index
 * of `task_names` (the names live there so that updates of tasks never rewrite trigram entries):
 * the matching ids come from there, the list keeps those of its own filter (live tasks of the
 * project). Names share their leading words ("frame-", "upload-…-row-", "task-000…"): those
 * trigrams sit in nearly every name, and the index reads their whole posting lists to intersect
 * them (~25 ms at 1M tasks, for a handful of rows). When q is a word followed by digits, the index
 * is asked only for the part from the first digit (at least 4 characters): every name that
 * contains q contains that part, so this only narrows the candidates, and the whole of q is checked
 * on each of them (`n.name || ''` is the same text but not the indexed expression, so that check
 * stays a filter). Same rows, ~2 ms.
 */
function nameContains(projectId: number, q: string): RawBuilder<unknown> {
  const pattern = `%${likeEscape(q)}%`;
  const tail = /^[^0-9]+([0-9].*)$/s.exec(q)?.[1];
  const match = tail === undefined || tail.length < 4
    ? sql`n.name ilike ${pattern}`
    : sql`n.name ilike ${`%${likeEscape(tail)}%`} and (n.name || '') ilike ${pattern}`;
  const byName = sql`select n.task_id from task_names n where n.project_id = ${projectId} and ${match}`;
  return /^\d{1,18}$/.test(q)
    ? sql`t.id in (select ${Number(q)}::bigint union all ${byName})`
    : sql`t.id in (${byName})`;
}

/** Builds the WHERE clause of a filter. Values only ever travel as bound parameters. */
export function taskWhere(scope: TaskListScope, filter: TaskFilter): RawBuilder<unknown> {
  const where: RawBuilder<unknown>[] = [sql`t.project_id = ${scope.projectId}`, sql`t.archive_id is null`];
  if (scope.onlyAssignedToViewer) where.push(sql`t.assignee_id = ${scope.viewerId}`);
  if (filter.states.length) where.push(sql`t.state = any(${filter.states}::text[])`);
  if (filter.stageIds.length) where.push(sql`t.stage_id = any(${filter.stageIds}::bigint[])`);
  if (filter.statuses.length) {
    const open = filter.statuses.filter((s) => s !== 'unassigned');
    const parts: RawBuilder<unknown>[] = [];
    if (open.length) parts.push(sql`t.assignment_status = any(${open}::text[])`);
    if (filter.statuses.includes('unassigned')) parts.push(sql`t.assignee_id is null`);
    where.push(sql`(${sql.join(parts, sql` or `)})`);
  }
  if (filter.assignee === 'none') where.push(sql`t.assignee_id is null`);
  else if (filter.assignee === 'me') where.push(sql`t.assignee_id = ${scope.viewerId}`);
  else if (filter.assignee !== undefined) where.push(sql`t.assignee_id = ${filter.assignee}`);
  if (filter.held !== undefined) where.push(sql`t.held = ${filter.held}`);
  if (filter.issue !== undefined) where.push(sql`t.has_open_issue = ${filter.issue}`);
  if (filter.priorityMin !== undefined) where.push(sql`t.priority >= ${filter.priorityMin}`);
  if (filter.priorityMax !== undefined) where.push(sql`t.priority <= ${filter.priorityMax}`);
  if (filter.scoreMin !== undefined) where.push(sql`t.priority_score >= ${filter.scoreMin}::numeric`);
  if (filter.scoreMax !== undefined) where.push(sql`t.priority_score <= ${filter.scoreMax}::numeric`);
  if (filter.batch !== undefined) {
    where.push(filter.batchMatch === 'exact'
      ? sql`t.client_batch_id = ${filter.batch}`
      : sql`t.client_batch_id = any(array(${matchingBatchIds(scope.projectId, `%${likeEscape(filter.batch)}%`)}))`);
  }
  if (filter.uploadId !== undefined) where.push(sql`t.upload_id = ${filter.uploadId}`);
  if (filter.createdFrom) where.push(sql`t.created_at >= ${filter.createdFrom}::date`);
  if (filter.createdTo) where.push(sql`t.created_at < ${filter.createdTo}::date + 1`);
  if (filter.submittedFrom) where.push(sql`t.last_submitted_at >= ${filter.submittedFrom}::date`);
  if (filter.submittedTo) where.push(sql`t.last_submitted_at < ${filter.submittedTo}::date + 1`);
  if (filter.q) where.push(nameContains(scope.projectId, filter.q));
  return sql.join(where, sql` and `);
}

