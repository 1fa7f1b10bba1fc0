import type { EntityManager } from '@mikro-orm/postgresql';
import { AnswerSet, type IAnswerSet } from '../answers/answer-set.entity.ts';
import { Assignment, type IAssignment } from '../assignments/assignment.entity.ts';
import { TaskEvent, type ITaskEvent } from '../events/task-event.entity.ts';
import { Upload } from '../uploads/upload.entity.ts';
import { Task, type ITask } from './task.entity.ts';

/**
 * The queries behind the read-only task view: one per section, users joined in the same
 * statement (no N+1).
 */
export class TaskDetailRepository {
  constructor(private readonly em: EntityManager) {}

  /** A live (not archived) task of the project, with its stage and the people it names. */
  findLiveTask(projectId: number, taskId: number): Promise<ITask | null> {
    return this.em.findOne(
      Task,
      { id: taskId, project: projectId, archive: null },
      { populate: ['stage', 'assignee', 'createdBy', 'lastSubmittedBy'] },
    );
  }

  /** Whether the user holds the task now: an open assignment or reservation in its current stage. */
  async holdsTask(taskId: number, stageId: number, userId: number): Promise<boolean> {
    const open = ['assigned', 'saved', 'pending_finalization', 'skipped'] as const;
    return (await this.em.count(Assignment, { task: taskId, stage: stageId, user: userId, status: { $in: [...open] } })) > 0;
  }

  /** Every assignment of the task, with its user; the caller orders them by workflow position. */
  assignments(taskId: number): Promise<IAssignment[]> {
    return this.em.find(Assignment, { task: taskId }, { populate: ['user'], orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  answerSets(taskId: number): Promise<IAnswerSet[]> {
    return this.em.find(AnswerSet, { task: taskId }, { populate: ['user'], orderBy: { createdAt: 'asc', id: 'asc' } });
  }

  /** The newest events first, with their actors (null actor = system). */
  latestEvents(taskId: number, limit: number): Promise<ITaskEvent[]> {
    return this.em.find(TaskEvent, { task: taskId }, { populate: ['actor'], orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  countEvents(taskId: number): Promise<number> {
    return this.em.count(TaskEvent, { task: taskId });
  }

  /** Whether the task's history holds a `created` event (tasks made before creation was derived from the task row). */
  /** Events in the order they happened, after the event `afterId` (0 = from the start), with their actors. */
  async eventsAfter(taskId: number, afterId: number, limit: number): Promise<ITaskEvent[]> {
    return this.em.find(TaskEvent, { task: taskId, id: { $gt: afterId } }, { populate: ['actor'], orderBy: { id: 'asc' }, limit });
  }

  async hasCreatedEvent(taskId: number): Promise<boolean> {
    return (await this.em.count(TaskEvent, { task: taskId, kind: 'created' })) > 0;
  }

  /** The file name of the upload that created a task (uploads are never deleted once they made tasks). */
  async uploadFileName(uploadId: number): Promise<string | null> {
    const upload = await this.em.findOne(Upload, { id: uploadId }, { fields: ['fileName'] });
    return upload?.fileName ?? null;
  }
}
