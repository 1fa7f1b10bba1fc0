import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound, unprocessable } from '../../lib/errors.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import type { OutputFieldType } from '../projects/project.entity.ts';
import { answerView, TaskDetailService, type AnswerSetRecord, type AnswerView } from '../tasks/task-detail.service.ts';
import type { ITask } from '../tasks/task.entity.ts';
import type { IUser } from '../users/user.entity.ts';
import { compareAnswers, METHOD_LABELS, NUMBER_TOLERANCE, type CompareMethod } from './answer-compare.ts';

/** At most this many answer sets side by side. */
export const MAX_COMPARE_SETS = 12;
const MAX_ID_TOKENS = 100;
const ID = /^[1-9]\d{0,14}$/;

/**
 * The `sets` query value (`3,7,9`, or repeated `sets=3&sets=7` as a checkbox form sends it) as
 * sorted, distinct answer-set ids. Anything but positive whole numbers is a 422.
 */
export function parseSetIds(raw: unknown): number[] {
  const parts = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).flatMap((part) => String(part).split(','));
  const tokens = parts.map((t) => t.trim()).filter((t) => t !== '');
  if (tokens.length > MAX_ID_TOKENS) throw unprocessable(`Choose at most ${MAX_COMPARE_SETS} answer sets`, { sets: 'Too many ids' });
  const bad = tokens.filter((t) => !ID.test(t));
  if (bad.length) {
    throw unprocessable('sets lists answer set ids, separated by commas', { sets: `Not an answer set id: ${bad.slice(0, 3).join(', ')}` });
  }
  const ids = [...new Set(tokens.map(Number))].sort((a, b) => a - b);
  if (ids.length > MAX_COMPARE_SETS) throw unprocessable(`Choose at most ${MAX_COMPARE_SETS} answer sets`, { sets: `${ids.length} ids` });
  return ids;
}

/** The canonical query string of a comparison: `sets=3,7,9` (sorted, distinct). */
export const canonicalSetsQuery = (ids: number[]) => `sets=${ids.join(',')}`;

export interface CompareCell {
  setId: number;
  /** the stored value (undefined when absent) */
  raw: unknown;
  /** the value as the task view shows it */
  view: AnswerView;
  missing: boolean;
  /** present but empty (an empty multi-choice selection): shown as "none" */
  empty: boolean;
  /** similarity to the reference value of the row, 0–1 */
  similarity: number;
  differs: boolean;
  reference: boolean;
}

export interface CompareRow {
  name: string;
  type: OutputFieldType | null;
  method: CompareMethod;
  methodLabel: string;
  agreement: number | null;
  pairs: number;
  referenceSetId: number;
  cells: CompareCell[];
}

export interface AnswerComparison {
  task: ITask;
  /** every answer set of the task, in reading order (for the picker) */
  sets: AnswerSetRecord[];
  /** the chosen sets, in reading order: the columns */
  chosen: AnswerSetRecord[];
  /** false when fewer than two sets are chosen: then rows is empty */
  enough: boolean;
  rows: CompareRow[];
  overall: number | null;
  numberTolerance: number;
}

/** Answer sets of a task: list and compare, through the access rule of the task view. */
export class AnswersService {
  private readonly tasks: TaskDetailService;

  constructor(em: EntityManager) {
    this.tasks = new TaskDetailService(em);
  }

  list(access: ProjectAccess, user: IUser, taskId: number): Promise<{ task: ITask; sets: AnswerSetRecord[] }> {
    return this.tasks.answerSets(access, user, taskId);
  }

  /**
   * Compares the chosen answer sets of a task the user may see (404 otherwise, and for ids that are
   * not answer sets of this task). With fewer than two ids the result has `enough: false`.
   */
  async compare(access: ProjectAccess, user: IUser, taskId: number, ids: number[]): Promise<AnswerComparison> {
    const { task, sets } = await this.tasks.answerSets(access, user, taskId);
    const known = new Set(sets.map((s) => s.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length) throw notFound(`No answer set ${unknown.join(', ')} on this task`);
    const wanted = new Set(ids);
    const chosen = sets.filter((s) => wanted.has(s.id));
    const base = { task, sets, chosen, numberTolerance: NUMBER_TOLERANCE };
    if (chosen.length < 2) return { ...base, enough: false, rows: [], overall: null };

    const result = compareAnswers(access.project.outputSchema, chosen.map((s) => s.answers));
    const rows = result.fields.map(
      (field): CompareRow => ({
        name: field.name,
        type: field.type,
        method: field.method,
        methodLabel: METHOD_LABELS[field.method],
        agreement: field.agreement,
        pairs: field.pairs,
        referenceSetId: chosen[field.reference].id,
        cells: chosen.map((set, i): CompareCell => {
          const view = answerView(field.name, field.type, field.values[i]);
          return {
            setId: set.id,
            raw: field.values[i],
            view,
            missing: field.missing[i],
            empty: !field.missing[i] && view.missing,
            similarity: field.toReference[i],
            differs: field.differs[i],
            reference: i === field.reference,
          };
        }),
      }),
    );
    return { ...base, enough: true, rows, overall: result.overall };
  }
}
