import { sql, type RawBuilder } from 'kysely';
import { unprocessable } from '../../lib/errors.ts';
import { parseIdList } from '../../lib/strict-numbers.ts';
import { canonicalQuery, parseTaskFilter, stageNamesToIds, type TaskFilter } from './task-filter.ts';
import { taskWhere } from './task-where.ts';

/** Which tasks an action applies to: picked rows, or everything matching a filter minus exclusions. */
export type TaskSelection =
  | { ids: number[] }
  | { filter: TaskFilter; excluded: number[] };

/** Stored form of a selection (in a job's tracking row): the filter as its canonical query string. */
export type StoredSelection = {
  ids?: number[];
  filter?: string;
  excluded?: number[];
};

/** The live tasks of a project in a selection, as a WHERE clause over `tasks t`. */
export function selectionWhere(projectId: number, viewerId: number, selection: TaskSelection): RawBuilder<unknown> {
  if ('ids' in selection) {
    return sql`t.project_id = ${projectId} and t.archive_id is null and t.id = any(${selection.ids}::bigint[])`;
  }
  const base = taskWhere({ projectId, viewerId, onlyAssignedToViewer: false }, selection.filter);
  return selection.excluded.length ? sql`${base} and not (t.id = any(${selection.excluded}::bigint[]))` : base;
}

export function storeSelection(selection: TaskSelection): StoredSelection {
  return 'ids' in selection ? { ids: selection.ids } : { filter: canonicalQuery(selection.filter), excluded: selection.excluded };
}

/** Reads a stored selection back; the filter is re-validated like any query string. */
export function loadSelection(stored: StoredSelection): TaskSelection {
  if (Array.isArray(stored.ids)) return { ids: stored.ids.filter(Number.isSafeInteger) };
  const { filter, errors } = parseTaskFilter(queryRecord(stored.filter ?? ''));
  if (Object.keys(errors).length) throw unprocessable('The stored filter is no longer valid');
  return { filter, excluded: (stored.excluded ?? []).filter(Number.isSafeInteger) };
}

/** A query string as the record of values `parseTaskFilter` reads (repeated keys become lists). */
export function queryRecord(query: string): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (const [key, value] of new URLSearchParams(query)) (record[key] ??= []).push(value);
  return record;
}

/** The ids of a form field; a value that is not an id refuses the whole action (422), never drops out of it. */
export function idList(value: unknown): number[] {
  const ids = parseIdList(value);
  if (!ids) throw unprocessable('A selected task id is not valid. Reload the page and try again.', { ids: 'must be task ids' });
  return ids;
}

/** The tasks a user holds, as a filter; a user the filter cannot name is refused (422), never dropped. */
export function heldByFilter(userId: number): TaskFilter {
  const { filter, errors } = parseTaskFilter(queryRecord(`assignee=${userId}`));
  if (errors.assignee || filter.assignee !== userId) throw unprocessable('No such user', { userId: 'must be the id of a user' });
  return filter;
}

/** The task-list view a selection form was sent from (its `filter` field), to go back to. */
export function taskListUrl(projectId: number, body: Record<string, unknown>): string {
  return `/projects/${projectId}/tasks${typeof body.filter === 'string' && body.filter ? `?${body.filter}` : ''}`;
}

/** A selection from the task list's bulk form: `scope=all` + `filter` (+ `excluded`), or ticked `ids`. */
export function selectionFromForm(body: Record<string, unknown>): TaskSelection {
  if (body.scope !== 'all') return { ids: idList(body.ids) };
  const { filter, errors } = parseTaskFilter(queryRecord(typeof body.filter === 'string' ? body.filter : ''));
  if (Object.keys(errors).length) throw unprocessable('Fix the filter before applying an action to all matching tasks');
  return { filter, excluded: idList(body.excluded) };
}

/**
 * The selection of an API call: `taskIds`, or `filter` (the query string of a task-list view; ''
 * is every task). Neither means every task unless the call changes tasks (`required`): a typo
 * must not archive a whole project.
 */
export function selectionFromApi(body: { filter?: string; taskIds?: number[] }, { required = false, stages = [] as { id: number; name: string }[] } = {}): TaskSelection {
  if (body.filter !== undefined && body.taskIds) throw unprocessable('Give filter or taskIds, not both');
  if (required && body.filter === undefined && !body.taskIds) throw unprocessable('Give taskIds, or filter ("" selects every task)', { taskIds: 'required without filter' });
  if (body.taskIds) return { ids: body.taskIds };
  const { filter, errors } = parseTaskFilter(stageNamesToIds(queryRecord(body.filter ?? ''), stages));
  if (Object.keys(errors).length) throw unprocessable('Invalid filter', errors);
  return { filter, excluded: [] };
}

