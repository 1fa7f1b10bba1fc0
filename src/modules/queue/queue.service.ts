import { randomInt } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { conflict, forbidden, HttpError, notFound, unprocessable } from '../../lib/errors.ts';
import { enqueueInTransaction } from '../../jobs/job.ts';
import type { ProjectAccess, StageInfo } from '../projects/project-access.ts';
import type { OutputField } from '../projects/project.entity.ts';
import { answerViews, inputViews, scoreText, type AnswerView, type InputView } from '../tasks/task-detail.service.ts';
import type { IUser } from '../users/user.entity.ts';
import { formValue, parseAnswers, type Answers } from './answers.ts';
import { QueueRepository, type AnswerSetRow, type HandedOutRow, type HeldTaskRow, type HolderRow, type IssueRow, type QueueRow, type WorkRow } from './queue.repository.ts';

export const DELIVER_TASK = 'deliver-task';

/** Assignment statuses in which the assignee may still change their work. */
const EDITABLE = new Set(['assigned', 'saved', 'pending_finalization', 'skipped']);
const MAX_COMMENT = 2000;

/** What an action carries: answers (JSON from the API, or form fields) and the version they start from. */
export interface AnswerInput {
  answers?: unknown;
  version?: number;
  fromForm?: boolean;
}

export type ReviewDecision = 'accept' | 'reject' | 'correct';

export interface FormField {
  field: OutputField;
  value: string | string[];
  error?: string;
}

export interface WorkView {
  task: WorkRow;
  stage: StageInfo;
  priorityScore: string | null;
  inputs: InputView[];
  metadata: [string, string][];
  /** the answer form, generated from the output schema */
  fields: FormField[];
  answers: Answers;
  version: number;
  /** where the prefilled answers came from, when they are not the assignee's own draft */
  prefilledFrom: string | null;
  /** in a review stage: the answers under review */
  reviewing: { answers: AnswerView[]; by: string | null; stage: string | null } | null;
  /** why the task came back, when a reviewer or the client rejected it */
  rejection: { note: string | null; actor: string | null; at: Date } | null;
  /** the current user is the assignee and the work is open */
  canAct: boolean;
  isReview: boolean;
}

/** A stale save: both versions, so nothing is lost (SPEC §9). */
export function staleSave(current: AnswerSetRow | null, yours: Answers): HttpError {
  return conflict('Someone saved this task after you opened it. Both versions are shown; save again to keep yours.', {
    currentVersion: current?.version ?? 0,
    theirs: current?.answers ?? {},
    theirsSavedAt: current?.updatedAt ?? null,
    yours,
  });
}

/**
 * Queues and the workflow of SPEC §4: request next (own work first, then the pool), the work
 * actions of the assignee, review decisions, issues, and reservations.
 */
export class QueueService {
  private readonly repo: QueueRepository;

  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {
    this.repo = new QueueRepository(em);
  }

  /** The stages the user may work in (label and review stages; members may be limited to some). */
  workStages(access: ProjectAccess): StageInfo[] {
    const stages = access.stages.filter((s) => s.kind !== 'ground_truth');
    const limited = access.role === 'member' && access.membership ? access.membership.stageIds : [];
    return limited.length ? stages.filter((s) => limited.includes(s.id)) : stages;
  }

  /** A stage by name (as the API names them) or id. */
  stage(access: ProjectAccess, ref: string | number): StageInfo {
    const stages = access.stages;
    const found = stages.find((s) => s.name === String(ref)) ?? (/^\d+$/.test(String(ref)) ? stages.find((s) => s.id === Number(ref)) : undefined);
    if (!found) throw notFound('No such stage');
    return found;
  }

  /**
   * "Label" / "Review": the user's own work in the stage first (assigned, reserved, saved; then
   * skipped), then — with auto-assignment on — tasks claimed from the pool, up to the project's
   * queue size. Returns the tasks in the order to work on them.
   */
  async requestNext(access: ProjectAccess, user: IUser, stageRef: string | number, { exclude = [] as number[] } = {}): Promise<HandedOutRow[]> {
    const stage = this.stage(access, stageRef);
    if (stage.kind === 'ground_truth') throw unprocessable('Ground Truth has no work to hand out');
    if (!this.workStages(access).some((s) => s.id === stage.id)) throw forbidden(`You may not work in ${stage.name}`);
    const project = access.project;
    const size = project.queueSize;
    const own = await this.repo.ownNext(project.id, stage, user.id, size, exclude);
    if (own.length >= size || !project.autoAssign) return own;
    // one statement: atomic on its own, no transaction round trips needed
    const claimed = await this.repo.claim({ projectId: project.id, stageId: stage.id, userId: user.id, limit: size - own.length, leaseMinutes: project.reservationMinutes, exclude }, stage.name);
    return [...own, ...claimed];
  }

  myQueue(access: ProjectAccess, user: IUser): Promise<QueueRow[]> {
    return this.repo.myQueue(access.project.id, user.id);
  }

  /** The work page of a task: only its assignee may act; managers may look. Members see only their own work (else 404). */
  async view(access: ProjectAccess, user: IUser, taskId: number): Promise<WorkView> {
    const task = await this.repo.work(access.project.id, taskId);
    if (!task) throw notFound('No such task');
    const mine = task.assigneeId === user.id && task.status !== null;
    if (!mine && !access.canManageTasks) throw notFound('No such task');
    const stages = access.stages;
    const stage = stages.find((s) => s.id === task.stageId)!;
    const schema = access.project.outputSchema ?? [];
    const own = mine && task.assignmentId ? await this.repo.answerSetOf(task.assignmentId) : null;
    const prefill = own ? null : await this.repo.prefill(task.id);
    const isReview = stage.kind === 'review';
    const answers = own?.answers ?? prefill?.answers ?? {};
    const reviewed = isReview ? await this.repo.prefill(task.id) : null;
    return {
      task,
      stage,
      priorityScore: scoreText(task.priorityScore),
      inputs: inputViews(access.project.inputSchema ?? [], task.data),
      metadata: Object.entries(task.metadata).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
      fields: schema.map((field) => ({ field, value: formValue(field, answers[field.name]) })),
      answers,
      version: own?.version ?? 0,
      prefilledFrom: prefill ? describeSource(prefill) : null,
      reviewing: reviewed && reviewed.kind !== 'default'
        ? { answers: answerViews(schema, reviewed.answers), by: reviewed.userName, stage: reviewed.stageName }
        : null,
      rejection: task.state === 'rejected' ? await this.repo.lastRejection(task.id) : null,
      canAct: mine && EDITABLE.has(task.status!),
      isReview,
    };
  }

  /** Save: stores the draft (optimistic version check); the task is `in_progress` from the first save. */
  async save(access: ProjectAccess, user: IUser, taskId: number, input: AnswerInput): Promise<{ version: number }> {
    return this.act(access, user, taskId, async (repo, task, stage) => {
      const version = await this.storeAnswers(access, repo, task, stage, user, input, true);
      const status = task.status === 'pending_finalization' ? 'pending_finalization' : 'saved';
      await repo.setStatus(task, status, { startWork: true });
      await repo.event({ taskId, projectId: access.project.id, actorId: user.id, kind: 'answers_saved', before: { status: task.status, state: task.state }, after: { status, version } });
      return { version };
    });
  }

  /** Submit draft: saved and waiting for "Finalize" (still editable). Label stages only. */
  async submitDraft(access: ProjectAccess, user: IUser, taskId: number, input: AnswerInput): Promise<{ version: number }> {
    return this.act(access, user, taskId, async (repo, task, stage) => {
      if (stage.kind !== 'label') throw unprocessable('In a review stage, accept, reject or correct the task');
      const version = await this.storeAnswers(access, repo, task, stage, user, input, false);
      await repo.setStatus(task, 'pending_finalization', { startWork: true, submittedBy: user.id });
      await repo.event({ taskId, projectId: access.project.id, actorId: user.id, kind: 'draft_submitted', before: { status: task.status }, after: { status: 'pending_finalization', version } });
      return { version };
    });
  }

  /** Finalize (Label) or accept (review): the work is read-only and the task moves on. */
  async finalize(access: ProjectAccess, user: IUser, taskId: number, input: AnswerInput): Promise<{ stage: string; state: string }> {
    return this.act(access, user, taskId, async (repo, task, stage) => {
      if (stage.kind === 'review') return this.decide(access, user, repo, task, stage, 'accept', input);
      await this.storeAnswers(access, repo, task, stage, user, input, false);
      return this.moveOn(access, user, repo, task, stage, 'finalized', null);
    });
  }

  /** Review decisions: accept, reject (reason required: back to the same labeler) or correct (edited answers, then accept). */
  async review(access: ProjectAccess, user: IUser, taskId: number, decision: ReviewDecision, input: AnswerInput & { reason?: string }): Promise<{ stage: string; state: string }> {
    return this.act(access, user, taskId, (repo, task, stage) => {
      if (stage.kind !== 'review') throw unprocessable('Only tasks in a review stage can be reviewed');
      return this.decide(access, user, repo, task, stage, decision, input);
    });
  }

  private async decide(access: ProjectAccess, user: IUser, repo: QueueRepository, task: WorkRow, stage: StageInfo, decision: ReviewDecision, input: AnswerInput & { reason?: string }) {
    if (decision === 'reject') {
      const reason = (input.reason ?? '').trim();
      if (!reason) throw unprocessable('A reason is required to reject', { reason: 'A reason is required' });
      if (reason.length > MAX_COMMENT) throw unprocessable('The reason is too long', { reason: `At most ${MAX_COMMENT} characters` });
      const label = access.stages.find((s) => s.kind === 'label')!;
      const labeler = await repo.lastFinalizer(task.id, label.id);
      await repo.finishAndEnter(task.id, { assignmentId: task.assignmentId!, outcome: 'rejected' }, label, {
        state: 'rejected', assignTo: labeler, kind: 'returned',
        event: { projectId: access.project.id, actorId: user.id, kind: 'review_rejected', note: reason, before: { stage: stage.name, state: task.state } },
      });
      return { stage: label.name, state: 'rejected' };
    }
    if (decision === 'correct') {
      if (input.answers === undefined) throw unprocessable('Correct needs the corrected answers', { answers: 'required' });
      await this.storeAnswers(access, repo, task, stage, user, input, false);
    }
    const outcome = decision === 'correct' ? 'corrected' : 'accepted';
    return this.moveOn(access, user, repo, task, stage, `review_${outcome}`, outcome);
  }

  /**
   * After finalize / accept: each later review stage samples the task by its review percentage
   * (0 % = disabled); the first that takes it is next, else Ground Truth (`completed`, and
   * queued for the webhook when the project has one). Entering a stage applies its pre-assignment.
   */
  private async moveOn(access: ProjectAccess, user: IUser, repo: QueueRepository, task: WorkRow, stage: StageInfo, kind: string, outcome: 'accepted' | 'corrected' | null) {
    const stages = access.stages;
    const next = stages.filter((s) => s.position > stage.position && s.kind === 'review')
      .find((s) => s.reviewPercent > 0 && randomInt(100) < s.reviewPercent) ?? stages.find((s) => s.kind === 'ground_truth')!;
    const completed = next.kind === 'ground_truth';
    const webhook = completed && Boolean(access.project.webhookUrl) && this.boss !== undefined;
    const state = completed ? 'completed' : 'in_progress';
    await repo.finishAndEnter(task.id, { assignmentId: task.assignmentId!, outcome }, next, {
      state, deliveryStatus: webhook ? 'pending' : null, submittedBy: user.id,
      event: { projectId: access.project.id, actorId: user.id, kind, before: { stage: stage.name, state: task.state } },
    });
    if (webhook) await enqueueInTransaction(repo.em, this.boss!, DELIVER_TASK, { taskId: task.id });
    return { stage: next.name, state };
  }

  /** Skip: to the end of the user's own queue; the task stays theirs. */
  async skip(access: ProjectAccess, user: IUser, taskId: number): Promise<void> {
    await this.act(access, user, taskId, async (repo, task) => {
      await repo.setStatus(task, 'skipped');
      await repo.event({ taskId, projectId: access.project.id, actorId: user.id, kind: 'skipped', before: { status: task.status }, after: { status: 'skipped' } });
    });
  }

  /** Raise an issue: the task leaves the queue until an admin or manager answers it. */
  async raiseIssue(access: ProjectAccess, user: IUser, taskId: number, comment: string): Promise<void> {
    const text = comment.trim();
    if (!text) throw unprocessable('Describe the issue', { comment: 'Describe the issue' });
    if (text.length > MAX_COMMENT) throw unprocessable('The comment is too long', { comment: `At most ${MAX_COMMENT} characters` });
    await this.act(access, user, taskId, async (repo, task) => {
      await repo.setStatus(task, 'issue', { issueComment: text });
      await repo.event({ taskId, projectId: access.project.id, actorId: user.id, kind: 'issue_raised', note: text, before: { status: task.status }, after: { status: 'issue' } });
    });
  }

  /** "Finalize all" pending drafts of the user; returns how many moved on. */
  async finalizeAll(access: ProjectAccess, user: IUser): Promise<number> {
    let n = 0;
    for (const id of await this.repo.pendingIds(access.project.id, user.id)) {
      await this.finalize(access, user, id, {});
      n++;
    }
    return n;
  }

  issues(access: ProjectAccess): Promise<IssueRow[]> {
    access.require('manager');
    return this.repo.openIssues(access.project.id);
  }

  /** An admin or manager answers an issue and sends the task back to the same user. */
  async resolveIssue(access: ProjectAccess, user: IUser, taskId: number, response: string): Promise<void> {
    access.require('manager');
    const text = response.trim();
    if (!text) throw unprocessable('Write an answer', { response: 'Write an answer' });
    if (text.length > MAX_COMMENT) throw unprocessable('The answer is too long', { response: `At most ${MAX_COMMENT} characters` });
    await this.em.transactional(async (em) => {
      const repo = new QueueRepository(em);
      const task = await repo.work(access.project.id, taskId, { lock: true });
      if (!task) throw notFound('No such task');
      if (task.status !== 'issue') throw conflict('This task has no open issue');
      const status = (await repo.answerSetOf(task.assignmentId!)) ? 'saved' : 'assigned';
      await repo.setStatus(task, status, { issueResponse: text });
      await repo.event({ taskId, projectId: access.project.id, actorId: user.id, kind: 'issue_resolved', note: text, before: { status: 'issue' }, after: { status, assigneeId: task.assigneeId } });
    });
  }

  holders(access: ProjectAccess): Promise<HolderRow[]> {
    return this.repo.holders(access.project.id);
  }

  heldBy(access: ProjectAccess, userId: number): Promise<HeldTaskRow[]> {
    return this.repo.heldBy(access.project.id, userId);
  }

  /** Runs an assignee action on the locked task: 404 for members on others' tasks, 403 for managers. */
  private async act<T>(access: ProjectAccess, user: IUser, taskId: number, fn: (repo: QueueRepository, task: WorkRow, stage: StageInfo) => Promise<T>): Promise<T> {
    const stages = access.stages;
    return this.em.transactional(async (em) => {
      const repo = new QueueRepository(em);
      const task = await repo.work(access.project.id, taskId, { lock: true });
      if (!task) throw notFound('No such task');
      if (task.assigneeId !== user.id || task.status === null) {
        if (!access.canManageTasks) throw notFound('No such task');
        throw forbidden('You can only work on tasks assigned to you. Assign it to yourself first.');
      }
      if (task.status === 'issue') throw conflict('This task has an open issue: wait for an admin or manager to answer it.');
      if (!EDITABLE.has(task.status)) throw conflict('This work is finalized and read-only.');
      const stage = stages.find((s) => s.id === task.stageId)!;
      return fn(repo, task, stage);
    });
  }

  /**
   * Stores the answers of the action (if any) on the assignment's answer set, refusing a stale
   * version with 409 and both versions. Returns the new version (or the current one).
   */
  private async storeAnswers(access: ProjectAccess, repo: QueueRepository, task: WorkRow, stage: StageInfo, user: IUser, input: AnswerInput, required: boolean): Promise<number> {
    if (input.answers === undefined) {
      if (required) throw unprocessable('Send the answers to save', { answers: 'required' });
      return (await repo.answerSetOf(task.assignmentId!))?.version ?? 0;
    }
    const { answers, errors } = parseAnswers(access.project.outputSchema ?? [], input.answers, { fromForm: input.fromForm });
    if (Object.keys(errors).length) throw unprocessable(Object.values(errors)[0], errors);
    if (input.version === undefined) throw unprocessable('Send the version your answers start from', { version: 'required' });
    const version = await repo.saveAnswers({
      taskId: task.id, stageId: stage.id, assignmentId: task.assignmentId!, userId: user.id,
      kind: stage.kind === 'label' ? 'submission' : 'correction', answers, version: input.version,
    });
    if (version === null) throw staleSave(await repo.answerSetOf(task.assignmentId!), answers);
    return version;
  }
}

function describeSource(set: AnswerSetRow): string {
  if (set.kind === 'default') return 'Default / model answers';
  const what = set.kind === 'correction' ? 'Correction' : 'Submission';
  return `${what}${set.userName ? ` by ${set.userName}` : ''}${set.stageName ? ` in ${set.stageName}` : ''}`;
}
