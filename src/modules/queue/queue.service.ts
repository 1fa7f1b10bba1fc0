import { randomInt } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { conflict, forbidden, HttpError, notFound, unprocessable } from '../../lib/errors.ts';
import type { ProjectAccess, StageInfo } from '../projects/project-access.ts';
import type { OutputField } from '../projects/project.entity.ts';
import { answerViews, inputViews, scoreText, type AnswerView, type InputView } from '../tasks/task-detail.service.ts';
import type { IUser } from '../users/user.entity.ts';
import { formValue, parseAnswers, type Answers } from './answers.ts';
import { STAGE_REMOVED } from '../workflow/stage-lock.ts';
import { Workflow, type Moved } from '../workflow/workflow.ts';
import { findStage } from '../stages/stage-ref.ts';
import type { TokenAccess } from './token-access.ts';
import { handedOut, QueueRepository, type AnswerSetRow, type HandedOutRow, type HeldTaskRow, type HolderRow, type IssueRow, type QueueCounts, type QueueRow, type WorkRow } from './queue.repository.ts';

/** Assignment statuses in which the assignee may still change their work. */
const EDITABLE = new Set(['assigned', 'saved', 'pending_finalization', 'skipped']);
const MAX_COMMENT = 2000;
const NOT_YOURS = 'You can only work on tasks assigned to you. Assign it to yourself first.';
const OPEN_ISSUE = 'This task has an open issue: wait for an admin or manager to answer it.';
const READ_ONLY = 'This work is finalized and read-only.';

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
    return stageByRef(access.stages, ref);
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
    // one statement: atomic on its own, no transaction round trips needed
    const rows = await new Workflow(this.em).nextWork({
      projectId: project.id, stageId: stage.id, userId: user.id, limit: project.queueSize, leaseMinutes: project.reservationMinutes, autoAssign: project.autoAssign, exclude,
    });
    return rows.map((r) => handedOut(r, { id: stage.id, name: stage.name }));
  }

  /** One page of the user's queue, in the order of SPEC §4, with the size of each group. */
  async myQueue(access: ProjectAccess, user: IUser, { page = 1, size = 500 } = {}): Promise<{ rows: QueueRow[]; counts: QueueCounts; total: number }> {
    const [rows, counts] = await Promise.all([
      this.repo.myQueue(access.project.id, user.id, size, (page - 1) * size),
      this.repo.myQueueCounts(access.project.id, user.id),
    ]);
    return { rows, counts, total: counts.open + counts.pending + counts.skipped };
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
    return this.act(access, user, taskId, async (repo, task, stage, workflow) => {
      const version = await this.storeAnswers(access, repo, task, stage, user, input, true);
      await workflow.save(task, user.id, version);
      return { version };
    });
  }

  /** Submit draft: saved and waiting for "Finalize" (still editable). Label stages only. */
  async submitDraft(access: ProjectAccess, user: IUser, taskId: number, input: AnswerInput): Promise<{ version: number }> {
    return this.act(access, user, taskId, async (repo, task, stage, workflow) => {
      if (stage.kind !== 'label') throw unprocessable('In a review stage, accept, reject or correct the task');
      const version = await this.storeAnswers(access, repo, task, stage, user, input, false);
      await workflow.submitDraft(task, user.id, version);
      return { version };
    });
  }

  /** Finalize (Label) or accept (review): the work is read-only and the task moves on. */
  async finalize(access: ProjectAccess, user: IUser, taskId: number, input: AnswerInput): Promise<Moved> {
    return this.act(access, user, taskId, async (repo, task, stage, workflow) => {
      if (stage.kind === 'review') return this.decide(access, user, repo, workflow, task, stage, 'accept', input);
      await this.storeAnswers(access, repo, task, stage, user, input, false);
      return this.moveOn(access, user, workflow, task, stage, 'finalized', null);
    });
  }

  /** Review decisions: accept, reject (reason required: back to the same labeler) or correct (edited answers, then accept). */
  async review(access: ProjectAccess, user: IUser, taskId: number, decision: ReviewDecision, input: AnswerInput & { reason?: string }): Promise<Moved> {
    return this.act(access, user, taskId, (repo, task, stage, workflow) => {
      if (stage.kind !== 'review') throw unprocessable('Only tasks in a review stage can be reviewed');
      return this.decide(access, user, repo, workflow, task, stage, decision, input);
    });
  }

  private async decide(access: ProjectAccess, user: IUser, repo: QueueRepository, workflow: Workflow, task: WorkRow, stage: StageInfo, decision: ReviewDecision, input: AnswerInput & { reason?: string }) {
    if (decision === 'reject') {
      const reason = (input.reason ?? '').trim();
      if (!reason) throw unprocessable('A reason is required to reject', { reason: 'A reason is required' });
      if (reason.length > MAX_COMMENT) throw unprocessable('The reason is too long', { reason: `At most ${MAX_COMMENT} characters` });
      const label = access.stages.find((s) => s.kind === 'label')!;
      return workflow.reviewReject(task, user.id, { from: stage, label, reason });
    }
    if (decision === 'correct') {
      if (input.answers === undefined) throw unprocessable('Correct needs the corrected answers', { answers: 'required' });
      await this.storeAnswers(access, repo, task, stage, user, input, false);
    }
    const outcome = decision === 'correct' ? 'corrected' : 'accepted';
    return this.moveOn(access, user, workflow, task, stage, `review_${outcome}`, outcome);
  }

  /**
   * After finalize / accept: each later review stage samples the task by its review percentage
   * (0 % = disabled); the first that takes it is next, else Ground Truth (the completion step:
   * `completed`, and queued for the webhook when the project has one). Entering a stage applies
   * its pre-assignment.
   */
  private moveOn(access: ProjectAccess, user: IUser, workflow: Workflow, task: WorkRow, stage: StageInfo, kind: string, outcome: 'accepted' | 'corrected' | null) {
    return workflow.moveOn(task, user.id, { from: stage, to: nextStageAfter(access.stages, stage), kind, outcome, webhook: Boolean(access.project.webhookUrl) });
  }

  /**
   * Request next for an API token in two database round trips (the token with its project access,
   * then the work itself) and no ORM: the API's hot path. Same rules as `requestNext`.
   */
  async requestNextByToken(access: TokenAccess, stageRef: string): Promise<HandedOutRow[]> {
    const stage = stageByRef(access.stages, stageRef);
    if (stage.kind === 'ground_truth') throw unprocessable('Ground Truth has no work to hand out');
    if (access.role === 'member' && access.memberStageIds.length && !access.memberStageIds.includes(stage.id)) throw forbidden(`You may not work in ${stage.name}`);
    const rows = await new Workflow(this.em).nextWork({
      projectId: access.projectId, stageId: stage.id, userId: access.userId, limit: access.queueSize,
      leaseMinutes: access.reservationMinutes, autoAssign: access.autoAssign,
    });
    return rows.map((r) => handedOut(r, { id: stage.id, name: stage.name }));
  }

  /**
   * Finalize (or, in a review stage, accept) for an API token in two round trips: one statement
   * checks and moves the task (see finalize-sql.ts). Returns null when the task may complete into a
   * project with a webhook: the caller then takes `finalize`, whose transaction also queues the delivery.
   */
  async finalizeByToken(access: TokenAccess, taskId: number, input: AnswerInput): Promise<Moved | null> {
    const routes = access.stages.filter((s) => s.kind !== 'ground_truth').map((from) => ({ from, to: nextStageAfter(access.stages, from) }));
    if (access.webhook && routes.some((r) => r.to.kind === 'ground_truth')) return null;
    const given = input.answers === undefined ? undefined : checkedAnswers(access.outputSchema, input);
    const answers = given && { json: JSON.stringify(given.answers), version: given.version };
    const row = await new Workflow(this.em).finalizeAtOnce({ projectId: access.projectId, taskId, userId: access.userId, routes, answers, webhook: access.webhook });
    switch (row.verdict) {
      case 'ok':
        return { stage: { id: Number(row.stage_id), name: row.stage! }, state: row.state! };
      case 'not_found':
        throw notFound('No such task');
      case 'not_yours':
        if (access.role === 'member') throw notFound('No such task');
        throw forbidden(NOT_YOURS);
      case 'issue':
        throw conflict(OPEN_ISSUE);
      case 'read_only':
        throw conflict(READ_ONLY);
      case 'stale':
        throw staleSave(await this.repo.openAnswerSet(taskId), JSON.parse(answers!.json) as Answers);
      case 'stage_removed':
        throw conflict(STAGE_REMOVED(row.stage ?? 'The next stage'));
    }
  }

  /** Skip: to the end of the user's own queue; the task stays theirs. */
  async skip(access: ProjectAccess, user: IUser, taskId: number): Promise<void> {
    await this.act(access, user, taskId, (_repo, task, _stage, workflow) => workflow.skip(task, user.id));
  }

  /** Raise an issue: the task leaves the queue until an admin or manager answers it. */
  async raiseIssue(access: ProjectAccess, user: IUser, taskId: number, comment: string): Promise<void> {
    const text = comment.trim();
    if (!text) throw unprocessable('Describe the issue', { comment: 'Describe the issue' });
    if (text.length > MAX_COMMENT) throw unprocessable('The comment is too long', { comment: `At most ${MAX_COMMENT} characters` });
    await this.act(access, user, taskId, (_repo, task, _stage, workflow) => workflow.raiseIssue(task, user.id, text));
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
      const hasDraft = (await repo.answerSetOf(task.assignmentId!)) !== null;
      await new Workflow(em, this.boss).resolveIssue(task, user.id, text, hasDraft);
    });
  }

  holders(access: ProjectAccess): Promise<HolderRow[]> {
    return this.repo.holders(access.project.id);
  }

  heldBy(access: ProjectAccess, userId: number): Promise<HeldTaskRow[]> {
    return this.repo.heldBy(access.project.id, userId);
  }

  /** Runs an assignee action on the locked task: 404 for members on others' tasks, 403 for managers. */
  private async act<T>(access: ProjectAccess, user: IUser, taskId: number, fn: (repo: QueueRepository, task: WorkRow, stage: StageInfo, workflow: Workflow) => Promise<T>): Promise<T> {
    const stages = access.stages;
    return this.em.transactional(async (em) => {
      const repo = new QueueRepository(em);
      const task = await repo.work(access.project.id, taskId, { lock: true });
      if (!task) throw notFound('No such task');
      if (task.assigneeId !== user.id || task.status === null) {
        if (!access.canManageTasks) throw notFound('No such task');
        throw forbidden(NOT_YOURS);
      }
      if (task.status === 'issue') throw conflict(OPEN_ISSUE);
      if (!EDITABLE.has(task.status)) throw conflict(READ_ONLY);
      const stage = stages.find((s) => s.id === task.stageId)!;
      return fn(repo, task, stage, new Workflow(em, this.boss));
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
    const { answers, version: from } = checkedAnswers(access.project.outputSchema ?? [], input);
    const version = await repo.saveAnswers({
      taskId: task.id, stageId: stage.id, assignmentId: task.assignmentId!, userId: user.id,
      kind: stage.kind === 'label' ? 'submission' : 'correction', answers, version: from,
    });
    if (version === null) throw staleSave(await repo.answerSetOf(task.assignmentId!), answers);
    return version;
  }
}

/** An action's answers, checked against the output schema, with the version they start from (422 otherwise). */
function checkedAnswers(schema: OutputField[], input: AnswerInput): { answers: Answers; version: number } {
  const { answers, errors } = parseAnswers(schema, input.answers, { fromForm: input.fromForm });
  if (Object.keys(errors).length) throw unprocessable(Object.values(errors)[0], errors);
  if (input.version === undefined) throw unprocessable('Send the version your answers start from', { version: 'required' });
  return { answers, version: input.version };
}

function stageByRef(stages: StageInfo[], ref: string | number): StageInfo {
  const found = findStage(stages, ref);
  if (!found) throw notFound('No such stage');
  return found;
}

/**
 * Where finalize or accept sends a task from `stage`: each later review stage samples it by its
 * review percentage (0 % = disabled); the first that takes it is next, else Ground Truth.
 */
function nextStageAfter(stages: StageInfo[], stage: StageInfo): StageInfo {
  return stages.filter((s) => s.position > stage.position && s.kind === 'review')
    .find((s) => s.reviewPercent > 0 && randomInt(100) < s.reviewPercent) ?? stages.find((s) => s.kind === 'ground_truth')!;
}

function describeSource(set: AnswerSetRow): string {
  if (set.kind === 'default') return 'Default / model answers';
  const what = set.kind === 'correction' ? 'Correction' : 'Submission';
  return `${what}${set.userName ? ` by ${set.userName}` : ''}${set.stageName ? ` in ${set.stageName}` : ''}`;
}
