import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { notFound, unprocessable } from '../../lib/errors.ts';
import { enqueueInTransaction, interruptedIds } from '../../lib/job-queue.ts';
import { MembersService } from '../members/members.service.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectsService } from '../projects/projects.service.ts';
import { loadSelection, selectionWhere, storeSelection, type StoredSelection, type TaskSelection } from '../selection/task-selection.ts';
import type { IUser } from '../users/user.entity.ts';
import { bulkAction, parseBulkParams, type BulkActionDefinition, type BulkParams } from './bulk-actions.ts';
import { BulkOperation, type IBulkOperation } from './bulk-operation.entity.ts';
import { BulkRepository } from './bulk.repository.ts';
import { ArchivesRepository } from '../archives/archives.repository.ts';
import { selectionTransition, type SelectionTransitionId, type TransitionContext } from '../workflow/selection-transitions.ts';
import { CHUNK_SIZE, type LaneRange, type PriorityItem } from '../workflow/selection-writer.ts';
import { Workflow } from '../workflow/workflow.ts';

/** Selections up to this size run in the request; larger ones run as a job with progress. */
export const INLINE_LIMIT = 5_000;
export const RUN_BULK_OPERATION = 'run-bulk-operation';
const NOT_FOUND = 'not found in this project (or archived)';

export interface BulkOutcome {
  action: BulkActionDefinition;
  changed: number;
  skipped: Record<string, number>;
  /** the archive action's record (none when no task was archived) */
  archiveId?: number;
}

export type BulkStart = { kind: 'done'; outcome: BulkOutcome } | { kind: 'queued'; operation: IBulkOperation };

export class BulkService {
  private readonly repo: BulkRepository;

  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {
    this.repo = new BulkRepository(em);
  }

  /**
   * Validates and runs a bulk action: small selections at once (one transaction), large ones as a
   * job whose progress is kept on a bulk operation row.
   */
  async start(access: ProjectAccess, actor: IUser, actionId: string, raw: Record<string, unknown>, selection: TaskSelection): Promise<BulkStart> {
    access.require('manager');
    const action = bulkAction(actionId);
    if (!action) throw unprocessable('Choose an action', { action: 'Choose an action' });
    // exports change no task: they are started by ExportsService (the bulk route hands them over)
    if (action.id === 'export') throw unprocessable('Exports are started from the Exports API or the task list', { action: 'export' });
    const { params, errors } = parseBulkParams(action, raw);
    if (Object.keys(errors).length) throw unprocessable(Object.values(errors)[0], errors);
    if ('ids' in selection && selection.ids.length === 0) throw unprocessable('Select at least one task', { ids: 'Select at least one task' });
    const context = await this.context(access, action, params);
    const where = selectionWhere(access.project.id, actor.id, selection);

    const size = await this.repo.count(where, INLINE_LIMIT);
    if (size <= INLINE_LIMIT) {
      const result = await this.em.transactional(async (em) => {
        const archives = new ArchivesRepository(em);
        const ctx = action.id === 'archive'
          ? { ...context, archiveId: await archives.open(access.project.id, actor.id, params.note ?? '', false) }
          : context;
        const applied = await new Workflow(em, this.boss).applyToSelection(selectionTransition(transitionOf(action), params, ctx), where, { projectId: access.project.id, actorId: actor.id });
        let archiveId: number | undefined;
        if (ctx.archiveId) {
          await archives.addTasks(ctx.archiveId, applied.changed);
          if (!(await archives.dropIfEmpty(ctx.archiveId))) archiveId = ctx.archiveId;
        }
        return { ...applied, archiveId };
      });
      const skipped = { ...result.skipped };
      // picked ids that are not (or no longer) tasks of this project
      const missing = 'ids' in selection ? new Set(selection.ids).size - result.seen : 0;
      if (missing > 0) skipped[NOT_FOUND] = missing;
      return { kind: 'done', outcome: { action, changed: result.changed, skipped, ...(result.archiveId ? { archiveId: result.archiveId } : {}) } };
    }
    if (!this.boss) throw new Error('bulk jobs need the job queue');
    const boss = this.boss;
    const operation = await this.em.transactional(async (em) => {
      const op = em.create(BulkOperation, {
        project: access.project, action: action.id, params: { ...params }, selection: storeSelection(selection), createdBy: actor,
      });
      await em.flush();
      await enqueueInTransaction(em, boss, RUN_BULK_OPERATION, { operationId: op.id });
      return op;
    });
    return { kind: 'queued', operation };
  }

  /** RedBrick's priority call: a priority and/or score per task, in one statement. */
  async setPriorities(access: ProjectAccess, actor: IUser, items: PriorityItem[]): Promise<BulkOutcome> {
    access.require('manager');
    const ids = items.map((i) => i.taskId);
    if (new Set(ids).size !== ids.length) throw unprocessable('Each task may appear only once', { taskId: 'duplicate task ids' });
    const result = await this.em.transactional((em) => new Workflow(em).setPriorities(access.project.id, actor.id, items));
    const skipped: Record<string, number> = {};
    if (result.seen > result.changed) skipped['already had those values'] = result.seen - result.changed;
    if (ids.length > result.seen) skipped[NOT_FOUND] = ids.length - result.seen;
    return { action: bulkAction('priority')!, changed: result.changed, skipped };
  }

  /** A bulk operation of the project, for its progress widget. */
  async operation(access: ProjectAccess, id: number): Promise<IBulkOperation> {
    const op = await this.em.findOne(BulkOperation, { id, project: access.project }, { populate: ['createdBy'] });
    if (!op) throw notFound('No such bulk action');
    return op;
  }

  /**
   * Runs (or resumes) a queued bulk operation in chunks, each chunk and its progress committed
   * together. Idempotent: a retried job continues after the last committed chunk.
   */
  /**
   * Runs (or resumes) a queued operation. Each chunk commits with its counters and resume point; a
   * chunk whose operation was moved on by another runner meanwhile (a worker thought dead that was
   * not) is rolled back, so every task is changed and counted once. Throws to be retried; the job's
   * failure hook records a final failure (see `fail`).
   */
  async runNow(operationId: number, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    const op = await this.em.findOne(BulkOperation, { id: operationId }, { populate: ['project', 'createdBy'] });
    if (!op || op.status === 'completed' || op.status === 'failed') return;
    const { actor, access } = await new ProjectsService(this.em).accessOfJobOwner(op.createdBy, op.project.id);
    const action = bulkAction(op.action);
    if (!action) throw unprocessable(`Unknown action ${op.action}`);
    const { params, errors } = parseBulkParams(action, op.params);
    if (Object.keys(errors).length) throw unprocessable(Object.values(errors)[0]);
    const context = await this.context(access, action, params);
    const where = selectionWhere(access.project.id, actor.id, loadSelection(op.selection as StoredSelection));

    if (op.status === 'queued') {
      op.status = 'running';
      op.total = await this.repo.count(where);
      // an archive action fills one Archive record, created once
      if (action.id === 'archive') op.params = { ...op.params, archiveId: await new ArchivesRepository(this.em).open(access.project.id, actor.id, params.note ?? '', false) };
      await this.em.flush();
    }
    const archiveId = action.id === 'archive' ? Number(op.params.archiveId) : undefined;
    const transition = selectionTransition(transitionOf(action), params, { ...context, archiveId });
    // progress lives on the row (committed with each chunk); `op` is only read from here on
    const workflow = new Workflow(this.em, this.boss);
    const lanes = await this.lanesOf(op.id, () => workflow.splitIntoLanes(where));
    const chunks = { projectId: access.project.id, actorId: actor.id, lanes, limit: CHUNK_SIZE, signal };
    await workflow.applyInChunks(transition, where, chunks, async (em, chunk, lane, afterId) => {
      if (!(await new BulkRepository(em).recordChunk(op.id, lane, afterId, chunk))) {
        throw new Error(`bulk operation ${op.id} moved on under this runner; its chunk after task ${afterId} (lane ${lane}) is undone`);
      }
      if (archiveId) await new ArchivesRepository(em).addTasks(archiveId, chunk.changed);
    });
    if (archiveId) await new ArchivesRepository(this.em).dropIfEmpty(archiveId);
    await this.finish(operationId, 'completed');
  }

  /** The operation's lanes, drawn over its selection on its first run (the same on every retry). */
  private async lanesOf(operationId: number, draw: () => Promise<LaneRange[]>): Promise<LaneRange[]> {
    const stored = await this.repo.lanes(operationId);
    if (stored) return stored;
    const lanes = await draw();
    if (await this.repo.startLanes(operationId, lanes)) return lanes;
    const theirs = await this.repo.lanes(operationId); // another runner drew them first
    if (theirs) return theirs;
    throw new Error(`bulk operation ${operationId} has progress but no lanes: it cannot resume`);
  }

  /** Whether a running operation's job was interrupted and waits to resume. */
  async isInterrupted(operation: IBulkOperation): Promise<boolean> {
    if (operation.status !== 'queued' && operation.status !== 'running') return false;
    return (await interruptedIds(this.em, RUN_BULK_OPERATION, 'operationId', [operation.id])).size > 0;
  }

  /** The operation's final failure, as its page shows it; what it changed so far stays. */
  async fail(operationId: number, reason: string): Promise<void> {
    await this.em.fork().nativeUpdate(BulkOperation, { id: operationId, status: { $in: ['queued', 'running'] } }, { status: 'failed', errorMessage: reason, finishedAt: new Date() });
  }

  /** An admin retries a failed operation: it resumes after its last committed chunk (or starts, if it never had). */
  async reopen(operationId: number): Promise<void> {
    await sql`update bulk_operations set error_message = null, finished_at = null,
                status = case when processed > 0 or total > 0 or params ? 'archiveId' then 'running' else 'queued' end
              -- one stopped by the upgrade to lanes by id range cannot resume its lanes by id modulo
              where id = ${operationId} and status = 'failed' and (lane_ends is not null or processed = 0)`.execute(this.em.getKysely());
  }

  private async finish(operationId: number, status: 'completed' | 'failed', errorMessage: string | null = null): Promise<void> {
    await this.em.fork().nativeUpdate(BulkOperation, { id: operationId }, { status, errorMessage, finishedAt: new Date() });
  }

  /** Checks the parameters against the project (stage exists, member belongs) and loads what the SQL needs. */
  private async context(access: ProjectAccess, action: BulkActionDefinition, params: BulkParams): Promise<TransitionContext> {
    const stages = access.stages;
    const label = stages.find((s) => s.kind === 'label');
    if (!label) throw new Error(`project ${access.project.id} has no Label stage`);
    const context: TransitionContext = { label, webhook: Boolean(access.project.webhookUrl) };
    if (params.stageId !== undefined) {
      context.target = stages.find((s) => s.id === params.stageId);
      if (!context.target) throw unprocessable('Unknown stage', { stage: 'Unknown stage' });
    }
    if (params.userId !== undefined) {
      const member = (await new MembersService(this.em).list(access)).find((m) => m.user.id === params.userId);
      if (!member) throw unprocessable('Not a member of this project', { member: 'Not a member of this project' });
      if (!member.user.active) throw unprocessable(`${member.user.name} is deactivated`, { member: 'This user is deactivated' });
      const limited = member.role === 'member' && member.stages.count() > 0;
      context.member = { userId: member.user.id, name: member.user.name, stageIds: limited ? member.stages.getItems().map((s) => s.id) : null };
    }
    return context;
  }

}

/** The workflow transition of a bulk action (every action but export, which changes no task). */
function transitionOf(action: BulkActionDefinition): SelectionTransitionId {
  if (action.id === 'export') throw new Error('export does not change tasks');
  return action.id;
}
