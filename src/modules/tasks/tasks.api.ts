import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PRIORITY_MAX, PRIORITY_MIN, parsePriorityScore, SCORE_RULE } from '../../lib/priority.ts';
import { Type } from 'typebox';
import { notFound, unprocessable } from '../../lib/errors.ts';
import type { BulkOutcome } from '../bulk/bulk.service.ts';
import { ProjectParams, TaskParams } from '../../lib/params.ts';
import { AssignmentKind, BulkResult, errorResponses, MAX_TASK_IDS, Nullable, OpenAssignmentStatus, Person, StageRef, TaskIds, TaskState, UserRef } from '../system/api.schemas.ts';
import { ASSIGNMENT_STATUSES } from '../assignments/assignment.entity.ts';
import { normalizeEmail } from '../users/user.repository.ts';
import { parseTaskFilter, stageNamesToIds } from '../selection/task-filter.ts';
import { findStage } from '../stages/stage-ref.ts';

const ListOf = Type.Union([Type.String(), Type.Array(Type.String())]);
const ListQuery = Type.Object({
  state: Type.Optional(ListOf), stage: Type.Optional(ListOf), status: Type.Optional(ListOf),
  assignee: Type.Optional(Type.String({ description: 'A user id, `me` or `none`' })),
  held: Type.Optional(Type.String({ enum: ['yes', 'no'] })), issue: Type.Optional(Type.String({ enum: ['yes', 'no'] })),
  pmin: Type.Optional(Type.String()), pmax: Type.Optional(Type.String()),
  smin: Type.Optional(Type.String()), smax: Type.Optional(Type.String()),
  batch: Type.Optional(Type.String()), batch_match: Type.Optional(Type.String({ enum: ['exact', 'contains'] })),
  upload: Type.Optional(Type.String()),
  created_from: Type.Optional(Type.String({ format: 'date' })), created_to: Type.Optional(Type.String({ format: 'date' })),
  submitted_from: Type.Optional(Type.String({ format: 'date' })), submitted_to: Type.Optional(Type.String({ format: 'date' })),
  q: Type.Optional(Type.String({ description: 'A task ID, or part of a name' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
  cursor: Type.Optional(Type.String({ description: '`nextCursor` of the previous page' })),
}, { additionalProperties: true });

const TaskBody = Type.Object({
  id: Type.Integer(), name: Type.String(), state: TaskState,
  stage: StageRef,
  priority: Type.Integer(), priorityScore: Nullable(Type.String({ description: 'decimal, up to 9 places' })),
  clientBatchId: Nullable(Type.String()), held: Type.Boolean(), hasOpenIssue: Type.Boolean(),
  assignee: Nullable(Person),
  assignmentStatus: Nullable(OpenAssignmentStatus), assignmentKind: Nullable(AssignmentKind),
  uploadId: Nullable(Type.Integer()),
  createdAt: Type.String({ format: 'date-time' }), lastSubmittedAt: Nullable(Type.String({ format: 'date-time' })),
  data: Type.Unknown({ description: 'The task\u2019s inputs, as uploaded' }), metadata: Type.Record(Type.String(), Type.String()),
}, { title: 'Task' });
const Assignment = Type.Object({
  id: Type.Integer(), stage: StageRef, user: Person, status: Type.String({ enum: [...ASSIGNMENT_STATUSES] }), kind: AssignmentKind,
  createdAt: Type.String({ format: 'date-time' }), finalizedAt: Nullable(Type.String({ format: 'date-time' })),
}, { title: 'Assignment' });
const TaskWithAssignments = Type.Intersect([TaskBody, Type.Object({ assignments: Type.Array(Assignment) })], { title: 'TaskDetail' });
const TaskEvent = Type.Object({
  id: Type.Integer(), at: Type.String({ format: 'date-time' }), actor: Nullable(UserRef),
  kind: Type.String({ description: 'e.g. created, priority_changed, held, finalized' }), before: Nullable(Type.Record(Type.String(), Type.Unknown())),
  after: Nullable(Type.Record(Type.String(), Type.Unknown())), note: Nullable(Type.String()),
}, { title: 'TaskEvent' });
const errors = errorResponses(401, 403, 404, 422);

const encodeCursor = (id: number) => Buffer.from(`after:${id}`).toString('base64url');
function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^after:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw unprocessable('Invalid cursor', { cursor: 'Use the nextCursor of a previous page' });
  return Number(match[1]);
}

/** A score as JSON gives it (number or string) → the exact decimal text, or an error. */
function scoreText(value: number | string | null): string | null {
  if (value === null) return null;
  const score = parsePriorityScore(value);
  if (score === null) throw unprocessable(`priorityScore is ${SCORE_RULE}`, { priorityScore: String(value) });
  return score;
}

const result = (outcome: BulkOutcome) => ({ changed: outcome.changed, skipped: outcome.skipped });

/** Tasks in the JSON API: list (filters of the task list, cursor pagination), get, and bulk edits. */
const tasksApi: FastifyPluginAsyncTypebox = async (fastify) => {
  /** Runs a task-list bulk action on explicit ids (at most 5,000, so always at once). */
  async function bulkOnIds(request: FastifyRequest, action: string, taskIds: number[], params: Record<string, unknown> = {}) {
    const user = request.requireUser();
    const { access } = request;
    const started = await request.services.bulk.start(access, user, action, params, { ids: taskIds });
    if (started.kind !== 'done') throw new Error('an id selection never runs as a job');
    return result(started.outcome);
  }

  fastify.get('/tasks', {
    schema: {
      tags: ['tasks'], operationId: 'listTasks', summary: 'List tasks (the filters of the task list), in id order, with a cursor',
      description: 'Members see only tasks assigned or reserved to them. Pass `nextCursor` as `cursor` for the next page.',
      params: ProjectParams, querystring: ListQuery,
      response: { 200: Type.Object({ items: Type.Array(TaskBody), nextCursor: Nullable(Type.String()) }, { title: 'TaskPage' }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    // the other keys are the task list's filter (whitelisted by parseTaskFilter)
    const { limit = 100, cursor, ...query } = request.query;
    const { filter, errors: invalid } = parseTaskFilter(stageNamesToIds(query, access.stages));
    if (Object.keys(invalid).length) throw unprocessable('Invalid filter', invalid);
    const afterId = decodeCursor(cursor);
    const scope = { projectId: access.project.id, viewerId: user.id, onlyAssignedToViewer: !access.canManageTasks };
    const page = await request.services.taskApi.list(scope, filter, afterId, limit);
    const last = page.tasks.at(-1);
    return { items: page.tasks, nextCursor: page.more && last ? encodeCursor(last.id) : null };
  });

  fastify.get('/tasks/:taskId', {
    schema: { tags: ['tasks'], operationId: 'getTask', summary: 'One task with its assignments', params: TaskParams, response: { 200: TaskWithAssignments, ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { taskId } = request.params;
    const scope = { projectId: access.project.id, viewerId: user.id, onlyAssignedToViewer: !access.canManageTasks };
    const task = await request.services.taskApi.get(scope, taskId);
    if (!task) throw notFound('No such task');
    return task;
  });

  fastify.get('/tasks/:taskId/events', {
    schema: {
      tags: ['tasks'], operationId: 'listTaskEvents', summary: 'The task\u2019s history, oldest first, with a cursor',
      description: 'The events the task view shows: every change with its actor (null for the system), before and after. The first entry (id 0) is the task\u2019s creation.',
      params: TaskParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })), cursor: Type.Optional(Type.String({ maxLength: 100 })) }),
      response: {
        200: Type.Object({ items: Type.Array(TaskEvent), nextCursor: Nullable(Type.String()) }, { title: 'TaskEventPage' }),
        ...errors,
      },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { taskId } = request.params;
    const { limit = 100, cursor } = request.query;
    const page = await request.services.taskDetail.history(access, user, taskId, { afterId: cursor === undefined ? -1 : decodeCursor(cursor), limit });
    return {
      items: page.items.map((e) => ({ ...e, at: e.at.toISOString() })),
      nextCursor: page.nextAfterId === null ? null : encodeCursor(page.nextAfterId),
    };
  });

  fastify.post('/tasks/assign', {
    schema: {
      tags: ['tasks'], operationId: 'assignTasks', summary: 'Assign tasks to a member by email, or unassign them (no email)',
      description: 'With `reserve: true` the tasks are reserved for the member instead. Existing assignments are superseded; tasks with saved work by someone else are skipped.',
      params: ProjectParams,
      body: Type.Object({
        taskIds: TaskIds,
        email: Type.Optional(Type.Union([Type.Null(), Type.String({ format: 'email' })])),
        reserve: Type.Optional(Type.Boolean()),
      }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const { body } = request;
    if (!body.email) return bulkOnIds(request, 'unassign', body.taskIds);
    const { access } = request;
    const email = normalizeEmail(body.email);
    const member = (await request.services.members.list(access)).find((m) => m.user.email === email);
    if (!member) throw unprocessable('Not a member of this project', { email: body.email });
    return bulkOnIds(request, body.reserve ? 'reserve' : 'assign', body.taskIds, { member: String(member.user.id) });
  });

  fastify.post('/tasks/priority', {
    schema: {
      tags: ['tasks'], operationId: 'setTaskPriorities', summary: 'Set priority and/or priority score per task',
      description: 'Priority: whole number, lower is served first. Score: 0–1 (up to 9 decimals), higher first; null clears it.',
      params: ProjectParams,
      body: Type.Array(Type.Object({
        taskId: Type.Integer({ minimum: 1 }),
        priority: Type.Optional(Type.Integer({ minimum: PRIORITY_MIN, maximum: PRIORITY_MAX })),
        // JSON bodies are not coerced (strict-numbers.ts): 0 stays 0 and null clears; the one score parser reads the value
        priorityScore: Type.Optional(Type.Union([Type.Null(), Type.Number(), Type.String()], { description: `${SCORE_RULE}, as a number or a string; null clears it` })),
      }, { additionalProperties: false }), { minItems: 1, maxItems: MAX_TASK_IDS }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const items = request.body.map((item, index) => {
      if (item.priority === undefined && item.priorityScore === undefined) {
        throw unprocessable('Each item needs priority or priorityScore', { index });
      }
      return { taskId: item.taskId, priority: item.priority, priorityScore: item.priorityScore === undefined ? undefined : scoreText(item.priorityScore) };
    });
    return result(await request.services.bulk.setPriorities(access, user, items));
  });

  fastify.post('/tasks/stage', {
    schema: {
      tags: ['tasks'], operationId: 'sendTasksToStage', summary: 'Send tasks to a stage (manager override)',
      description: 'Open assignments are superseded; the stage\'s pre-assignment applies; Ground Truth marks them completed. 409 when an admin removed the review stage meanwhile (nothing is changed).',
      params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds, stage: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], { description: 'The stage: its id, or its name (e.g. Review_1)' }) }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors, ...errorResponses(409) },
    },
  }, async (request) => {
    const { taskIds, stage } = request.body;
    const { access } = request;
    const found = findStage(access.stages, stage);
    if (!found) throw unprocessable('Unknown stage', { stage });
    return bulkOnIds(request, 'send_to_stage', taskIds, { stage: String(found.id) });
  });

  fastify.post('/tasks/hold', {
    schema: {
      tags: ['tasks'], operationId: 'holdTasks', summary: 'Hold tasks (out of the allocation pool) or unhold them',
      params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds, held: Type.Boolean() }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const { taskIds, held } = request.body;
    return bulkOnIds(request, held ? 'hold' : 'unhold', taskIds);
  });

  fastify.post('/tasks/client-batch', {
    schema: {
      tags: ['tasks'], operationId: 'setTaskClientBatch', summary: 'Set (or clear, with null) the client batch ID of tasks',
      params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds, clientBatchId: Type.Union([Type.Null(), Type.String({ maxLength: 200 })]) }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const { taskIds, clientBatchId } = request.body;
    return bulkOnIds(request, 'batch', taskIds, { batch: clientBatchId ?? '' });
  });
};

export default tasksApi;
