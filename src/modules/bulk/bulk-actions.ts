import { parsePriority, parsePriorityScore, PRIORITY_RULE, SCORE_RULE } from '../../lib/priority.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../exports/export-formats.ts';

/**
 * The bulk actions of the task list (SPEC §5), as a typed static registry. The SQL of each action
 * lives in bulk.repository.ts; this file says what each action is called, what it asks for and
 * how its parameters are validated.
 */

export const BULK_ACTION_IDS = [
  'reject', 'acknowledge', 'reset',
  'send_to_stage', 'hold', 'unhold', 'assign', 'unassign', 'reserve', 'release',
  'batch', 'priority', 'score',
  'export', 'archive',
] as const;
export type BulkActionId = (typeof BULK_ACTION_IDS)[number];

export type BulkField = 'reason' | 'note' | 'stage' | 'member' | 'batch' | 'priority' | 'score' | 'format';

export interface BulkActionDefinition {
  id: BulkActionId;
  group: 'State' | 'Queue' | 'Edit' | 'Export and archive';
  title: string;
  /** the past tense used in results ("12 tasks held") */
  done: string;
  fields: BulkField[];
  /** asked before running, in the browser */
  confirm?: string;
}

export const BULK_ACTIONS: readonly BulkActionDefinition[] = [
  { id: 'reject', group: 'State', title: 'Reject (back to Label)', done: 'rejected', fields: ['reason'], confirm: 'Reject the selected tasks and send them back to Label?' },
  { id: 'acknowledge', group: 'State', title: 'Acknowledge', done: 'acknowledged', fields: [] },
  { id: 'reset', group: 'State', title: 'Reset to new', done: 'reset to new', fields: [], confirm: 'Reset the selected tasks to new? Their open assignments are released.' },
  { id: 'send_to_stage', group: 'Queue', title: 'Send to stage', done: 'sent to the stage', fields: ['stage'] },
  { id: 'hold', group: 'Queue', title: 'Hold', done: 'held', fields: [] },
  { id: 'unhold', group: 'Queue', title: 'Unhold', done: 'released from hold', fields: [] },
  { id: 'assign', group: 'Queue', title: 'Assign to a member', done: 'assigned', fields: ['member'] },
  { id: 'unassign', group: 'Queue', title: 'Unassign', done: 'unassigned', fields: [], confirm: 'Unassign the selected tasks? Saved drafts stay in their history.' },
  { id: 'reserve', group: 'Queue', title: 'Reserve for a member', done: 'reserved', fields: ['member'] },
  { id: 'release', group: 'Queue', title: 'Release to the pool', done: 'released', fields: [] },
  { id: 'batch', group: 'Edit', title: 'Set client batch ID', done: 'updated', fields: ['batch'] },
  { id: 'priority', group: 'Edit', title: 'Set priority', done: 'updated', fields: ['priority'] },
  { id: 'score', group: 'Edit', title: 'Set or clear priority score', done: 'updated', fields: ['score'] },
  { id: 'export', group: 'Export and archive', title: 'Export', done: 'exported', fields: ['format'] },
  { id: 'archive', group: 'Export and archive', title: 'Archive', done: 'archived', fields: ['note'], confirm: 'Archive the selected tasks? They leave every list and queue until restored.' },
];


export const bulkAction = (id: string): BulkActionDefinition | undefined => BULK_ACTIONS.find((a) => a.id === id);

/** Validated parameters; only the ones the action asks for are set. */
export interface BulkParams {
  reason?: string;
  /** optional note (the reason of an archive) */
  note?: string;
  format?: ExportFormat;
  stageId?: number;
  userId?: number;
  /** null clears it */
  batch?: string | null;
  priority?: number;
  /** a decimal string with at most 9 decimals, or null to clear */
  score?: string | null;
}


type Raw = Record<string, unknown>;
const text = (raw: Raw, key: string): string => {
  const v = raw[key];
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
};

/** Reads the fields an action needs from a form or API body; errors are per field. */
export function parseBulkParams(action: BulkActionDefinition, raw: Raw): { params: BulkParams; errors: Record<string, string> } {
  const params: BulkParams = {};
  const errors: Record<string, string> = {};
  for (const field of action.fields) {
    const value = text(raw, field);
    switch (field) {
      case 'reason':
        if (!value) errors.reason = 'A reason is required';
        else if (value.length > 2000) errors.reason = 'At most 2,000 characters';
        else params.reason = value;
        break;
      case 'note':
        if (value.length > 2000) errors.note = 'At most 2,000 characters';
        else if (value) params.note = value;
        break;
      case 'format':
        if ((EXPORT_FORMATS as readonly string[]).includes(value)) params.format = value as ExportFormat;
        else errors.format = 'Choose CSV, JSON or JSONL';
        break;
      case 'stage':
        if (/^\d{1,18}$/.test(value)) params.stageId = Number(value);
        else errors.stage = 'Choose a stage';
        break;
      case 'member':
        if (/^\d{1,18}$/.test(value)) params.userId = Number(value);
        else errors.member = 'Choose a member';
        break;
      case 'batch':
        if (value.length > 200) errors.batch = 'At most 200 characters';
        else params.batch = value === '' ? null : value;
        break;
      case 'priority': {
        const n = parsePriority(value);
        if (n !== null) params.priority = n;
        else errors.priority = `Priority is ${PRIORITY_RULE}`;
        break;
      }
      case 'score':
        if (value === '') params.score = null;
        else if (parsePriorityScore(value) !== null) params.score = parsePriorityScore(value);
        else errors.score = `Score is ${SCORE_RULE} (empty clears it)`;
        break;
    }
  }
  return { params, errors };
}

/** "12 tasks changed, 3 skipped: 2 already held; 1 not assigned" — the answer to every bulk action. */
export function describeOutcome(changed: number, skipped: Record<string, number>): { headline: string; reasons: string[] } {
  const number = new Intl.NumberFormat('en-US');
  const skippedTotal = Object.values(skipped).reduce((a, b) => a + b, 0);
  const headline = `${number.format(changed)} ${changed === 1 ? 'task' : 'tasks'} changed, ${number.format(skippedTotal)} skipped`;
  // "3 skipped: already held" reads for one task and for many (no verb to agree with the count)
  const reasons = Object.entries(skipped).sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${number.format(n)} skipped: ${reason}`);
  return { headline, reasons };
}

/** A bulk outcome in one sentence, for a flash message. */
export function outcomeSentence(title: string, changed: number, skipped: Record<string, number>): string {
  const { headline, reasons } = describeOutcome(changed, skipped);
  return `${title}: ${headline}${reasons.length ? `. ${reasons.join('. ')}` : ''}.`;
}
