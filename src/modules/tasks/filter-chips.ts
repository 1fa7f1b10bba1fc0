import { humanize } from '../../lib/format.ts';
import type { StageInfo } from '../projects/project-access.ts';
import type { TaskFilter } from '../selection/task-filter.ts';

export interface FilterChip {
  label: string;
  /** the same view without this filter */
  href: string;
}

/**
 * The active filters of a task-list view as removable chips (shown above the table): each links
 * to the canonical URL of the view without it.
 */
export function filterChips(f: TaskFilter, stages: StageInfo[], memberName: (id: number) => string | undefined, url: (o: Partial<TaskFilter>) => string): FilterChip[] {
  const chips: FilterChip[] = [];
  const add = (label: string, without: Partial<TaskFilter>) => chips.push({ label, href: url({ ...without, page: 1 }) });
  if (f.q) add(`Search: ${f.q}`, { q: undefined });
  for (const s of f.states) add(`State: ${humanize(s)}`, { states: f.states.filter((x) => x !== s) });
  for (const id of f.stageIds) add(`Stage: ${stages.find((s) => s.id === id)?.name ?? id}`, { stageIds: f.stageIds.filter((x) => x !== id) });
  for (const s of f.statuses) add(`Status: ${humanize(s)}`, { statuses: f.statuses.filter((x) => x !== s) });
  if (f.assignee !== undefined) {
    const who = f.assignee === 'me' ? 'me' : f.assignee === 'none' ? 'nobody' : (memberName(f.assignee) ?? `user ${f.assignee}`);
    add(`Assignee: ${who}`, { assignee: undefined });
  }
  if (f.held !== undefined) add(f.held ? 'Held' : 'Not held', { held: undefined });
  if (f.issue !== undefined) add(f.issue ? 'Has open issue' : 'No open issue', { issue: undefined });
  if (f.priorityMin !== undefined) add(`Priority ≥ ${f.priorityMin}`, { priorityMin: undefined });
  if (f.priorityMax !== undefined) add(`Priority ≤ ${f.priorityMax}`, { priorityMax: undefined });
  if (f.scoreMin !== undefined) add(`Score ≥ ${f.scoreMin}`, { scoreMin: undefined });
  if (f.scoreMax !== undefined) add(`Score ≤ ${f.scoreMax}`, { scoreMax: undefined });
  if (f.batch !== undefined) add(`Batch ${f.batchMatch === 'exact' ? 'is' : 'contains'}: ${f.batch}`, { batch: undefined, batchMatch: 'contains' });
  if (f.uploadId !== undefined) add(`Upload ${f.uploadId}`, { uploadId: undefined });
  if (f.createdFrom) add(`Created from ${f.createdFrom}`, { createdFrom: undefined });
  if (f.createdTo) add(`Created until ${f.createdTo}`, { createdTo: undefined });
  if (f.submittedFrom) add(`Submitted from ${f.submittedFrom}`, { submittedFrom: undefined });
  if (f.submittedTo) add(`Submitted until ${f.submittedTo}`, { submittedTo: undefined });
  return chips;
}
