import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { heldByFilter } from '../selection/task-selection.ts';
import { ProjectParams, ProjectUserParams, StageRefParams, TaskParams } from '../../lib/params.ts';
import { AssignmentKind, BulkResult, errorResponses, Nullable, OpenAssignmentStatus, StageRef, TaskIds, TaskState } from '../system/api.schemas.ts';
import { normalizeEmail } from '../users/user.repository.ts';
import { bearerToken, tokenAccess } from './token-access.ts';

const errors = errorResponses(401, 403, 404, 409, 422);

const Answers = Type.Record(Type.String(), Type.Unknown(), { description: 'Answers by output-schema field name' });
const Version = Type.Integer({ minimum: 0, description: 'The version your answers start from (`version` of the work item; 0 before the first save). A stale version answers 409 with both versions.' });
const AnswerBody = Type.Object({ answers: Type.Optional(Answers), version: Type.Optional(Version) }, { additionalProperties: false });

/** Every response names a stage by id and name; every call that takes one takes either. */
const Stage = StageRef;
const HandedOut = Type.Object({
  id: Type.Integer(), name: Type.String(), stage: Stage, state: TaskState, status: OpenAssignmentStatus, kind: AssignmentKind,
  priority: Type.Integer(), priorityScore: Nullable(Type.String()), data: Type.Unknown(), metadata: Type.Record(Type.String(), Type.String()),
  leaseExpiresAt: Nullable(Type.String({ format: 'date-time' })), version: Type.Integer(),
}, { title: 'HandedOutTask' });
const QueueItem = Type.Object({
  id: Type.Integer(), name: Type.String(), stage: Stage, status: OpenAssignmentStatus, kind: AssignmentKind, state: TaskState,
  priority: Type.Integer(), priorityScore: Nullable(Type.String()), since: Type.String({ format: 'date-time' }),
}, { title: 'QueueItem' });
const WorkItem = Type.Object({
  id: Type.Integer(), name: Type.String(), state: TaskState, stage: Stage, priority: Type.Integer(), priorityScore: Nullable(Type.String()),
  data: Type.Unknown(), metadata: Type.Record(Type.String(), Type.String()),
  assignment: Nullable(Type.Object({ assignee: Nullable(Type.String()), status: Type.String(), kind: Type.String(), issueComment: Nullable(Type.String()), issueResponse: Nullable(Type.String()) }, { title: 'WorkAssignment' })),
  answers: Answers, version: Type.Integer(), prefilledFrom: Nullable(Type.String()), canAct: Type.Boolean(),
}, { title: 'WorkItem' });
const Moved = Type.Object({ stage: Stage, state: TaskState }, { description: 'The stage the task is in now, and its state', title: 'TaskMove' });
const Version_ = Type.Object({ version: Type.Integer({ description: 'The version of the saved answers' }) }, { title: 'AnswersVersion' });
const Status = Type.Object({ status: Type.String() }, { title: 'AssignmentStatusChange' });

/** Queues, work actions, review, issues and reservations in the JSON API (SPEC §8). */
const queueApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/queue', {
    schema: { tags: ['queue'], operationId: 'getMyQueue', summary: 'My queue: assigned and saved, then pending finalization, then skipped', params: ProjectParams, response: { 200: Type.Object({ items: Type.Array(QueueItem) }), ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { rows } = await request.services.queue.myQueue(access, user);
    return { items: rows.map((r) => ({ id: r.id, name: r.name, stage: { id: r.stageId, name: r.stageName }, status: r.status, kind: r.kind, state: r.state, priority: r.priority, priorityScore: r.priorityScore, since: r.since.toISOString() })) };
  });

  // the hot path: the route reads the token with its project access itself (one round trip), see token-access.ts
  fastify.post('/stages/:stage/next', {
    config: { tokenAccess: true },
    schema: {
      tags: ['queue'], operationId: 'requestNext', summary: 'Request work in a stage (the Label / Review buttons)',
      description: 'Your own assigned, reserved and saved tasks in the stage come first, then your skipped ones; then (with auto-assignment on) tasks claimed from the pool in allocation order, up to the project\'s queue size. An empty list means no work.',
      params: StageRefParams, response: { 200: Type.Object({ items: Type.Array(HandedOut) }), ...errors },
    },
  }, async (request) => {
    const { projectId, stage } = request.params;
    const access = await tokenAccess(request.em, bearerToken(request.headers.authorization), projectId);
    const items = await request.services.queue.requestNextByToken(access, stage);
    return { items: items.map((i) => ({ ...i, leaseExpiresAt: i.leaseExpiresAt?.toISOString() ?? null })) };
  });

  fastify.get('/work/:taskId', {
    schema: { tags: ['queue'], operationId: 'getWorkItem', summary: 'A task as its assignee works on it (inputs, current or prefilled answers, version)', params: TaskParams, response: { 200: WorkItem, ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const v = await request.services.queue.view(access, user, request.params.taskId);
    return {
      id: v.task.id, name: v.task.name, state: v.task.state, stage: { id: v.stage.id, name: v.stage.name }, priority: v.task.priority, priorityScore: v.priorityScore,
      data: v.task.data, metadata: v.task.metadata,
      assignment: v.task.status ? { assignee: v.task.assigneeName, status: v.task.status, kind: v.task.kind ?? '', issueComment: v.task.issueComment, issueResponse: v.task.issueResponse } : null,
      answers: v.answers, version: v.version, prefilledFrom: v.prefilledFrom, canAct: v.canAct,
    };
  });

  fastify.put('/tasks/:taskId/answers', {
    schema: {
      tags: ['queue'], operationId: 'saveAnswers', summary: 'Save draft answers (assignee only)', params: TaskParams,
      body: Type.Object({ answers: Answers, version: Version }, { additionalProperties: false }),
      response: { 200: Version_, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    return request.services.queue.save(access, user, request.params.taskId, request.body);
  });

  fastify.post('/tasks/:taskId/submission', {
    schema: { tags: ['queue'], operationId: 'submitTask', summary: 'Submit a draft (pending finalization, still editable)', params: TaskParams, body: AnswerBody, response: { 200: Version_, ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    return request.services.queue.submitDraft(access, user, request.params.taskId, request.body ?? {});
  });

  fastify.post('/tasks/:taskId/finalization', {
    config: { tokenAccess: true },
    schema: {
      tags: ['queue'], operationId: 'finalizeTask', summary: 'Finalize (in a review stage: accept); the task moves to the next stage',
      description: 'Optionally with the final answers (and their version). After Label the task goes to the next enabled review stage that samples it, else to Ground Truth (completed).',
      params: TaskParams, body: AnswerBody, response: { 200: Moved, ...errors },
    },
  }, async (request) => {
    const { projectId, taskId } = request.params;
    const input = request.body ?? {};
    const fast = await tokenAccess(request.em, bearerToken(request.headers.authorization), projectId);
    const done = await request.services.queue.finalizeByToken(fast, taskId, input);
    if (done) return done;
    // completing into a project with a webhook: the transactional path, which also queues the delivery
    const user = await request.services.users.get(fast.userId);
    const access = await request.services.projects.access(user, projectId);
    return request.services.queue.finalize(access, user, taskId, input);
  });

  fastify.post('/queue/finalization', {
    schema: { tags: ['queue'], operationId: 'finalizeAllPending', summary: 'Finalize all my pending drafts', params: ProjectParams, response: { 200: Type.Object({ finalized: Type.Integer() }), ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    return { finalized: await request.services.queue.finalizeAll(access, user) };
  });

  fastify.post('/tasks/:taskId/skip', {
    schema: { tags: ['queue'], operationId: 'skipTask', summary: 'Skip: the task goes to the end of your queue and stays yours', params: TaskParams, response: { 200: Status, ...errors } },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    await request.services.queue.skip(access, user, request.params.taskId);
    return { status: 'skipped' };
  });

  fastify.post('/tasks/:taskId/issue', {
    schema: {
      tags: ['queue'], operationId: 'raiseIssue', summary: 'Raise an issue: the task leaves your queue until an admin or manager answers',
      params: TaskParams, body: Type.Object({ comment: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false }),
      response: { 200: Status, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    await request.services.queue.raiseIssue(access, user, request.params.taskId, request.body.comment);
    return { status: 'issue' };
  });

  fastify.post('/tasks/:taskId/issue/resolution', {
    schema: {
      tags: ['queue'], operationId: 'resolveIssue', summary: 'Answer an issue and send the task back to the same user (admins, managers)',
      params: TaskParams, body: Type.Object({ response: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false }),
      response: { 200: Status, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    await request.services.queue.resolveIssue(access, user, request.params.taskId, request.body.response);
    return { status: 'resolved' };
  });

  fastify.get('/issues', {
    schema: {
      tags: ['queue'], operationId: 'listIssues', summary: 'Open issues (admins, managers)', params: ProjectParams,
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), stage: Stage, priority: Type.Integer(), assignee: Type.String(), comment: Nullable(Type.String()), raisedAt: Type.String({ format: 'date-time' }) }, { title: 'Issue' })) }), ...errors },
    },
  }, async (request) => {
    const { access } = request;
    const rows = await request.services.queue.issues(access);
    return { items: rows.map((r) => ({ id: r.id, name: r.name, stage: { id: r.stageId, name: r.stageName }, priority: r.priority, assignee: r.assigneeName, comment: r.comment, raisedAt: r.raisedAt.toISOString() })) };
  });

  fastify.post('/tasks/:taskId/review', {
    schema: {
      tags: ['queue'], operationId: 'reviewTask', summary: 'Review decision: accept, reject (reason required: back to the same labeler in Label) or correct (edited answers, then accept)',
      params: TaskParams,
      body: Type.Object({
        decision: Type.Unsafe<'accept' | 'reject' | 'correct'>(Type.String({ enum: ['accept', 'reject', 'correct'] })),
        reason: Type.Optional(Type.String({ maxLength: 2000 })),
        answers: Type.Optional(Answers), version: Type.Optional(Version),
      }, { additionalProperties: false }),
      response: { 200: Moved, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { body } = request;
    return request.services.queue.review(access, user, request.params.taskId, body.decision, body);
  });

  fastify.get('/reservations', {
    config: { role: 'manager' },
    schema: {
      tags: ['reservations'], operationId: 'listReservationHolders', summary: 'Users holding open work, with counts by status and the oldest hold (admins, managers)', params: ProjectParams,
      response: {
        200: Type.Object({ items: Type.Array(Type.Object({
          userId: Type.Integer(), name: Type.String(), email: Type.String(), total: Type.Integer(), reserved: Type.Integer(), assigned: Type.Integer(),
          saved: Type.Integer(), pending: Type.Integer(), skipped: Type.Integer(), issue: Type.Integer(), oldest: Type.String({ format: 'date-time' }),
        }, { title: 'ReservationHolder' })) }),
        ...errors,
      },
    },
  }, async (request) => {
    const rows = await request.services.queue.holders(request.access);
    return { items: rows.map((r) => ({ ...r, oldest: r.oldest.toISOString() })) };
  });

  fastify.get('/reservations/:userId', {
    config: { role: 'manager' },
    schema: {
      tags: ['reservations'], operationId: 'listUserReservations', summary: 'The open work one user holds (admins, managers)', params: ProjectUserParams,
      response: { 200: Type.Object({ items: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), stage: Stage, status: OpenAssignmentStatus, kind: AssignmentKind, priority: Type.Integer(), since: Type.String({ format: 'date-time' }) }, { title: 'HeldTask' })) }), ...errors },
    },
  }, async (request) => {
    const rows = await request.services.queue.heldBy(request.access, request.params.userId);
    return { items: rows.map((r) => ({ id: r.id, name: r.name, stage: { id: r.stageId, name: r.stageName }, status: r.status, kind: r.kind, priority: r.priority, since: r.since.toISOString() })) };
  });

  fastify.post('/reservations/release', {
    schema: {
      tags: ['reservations'], operationId: 'releaseReservations', summary: 'Release tasks back to the pool: all untouched or reserved tasks of a user, or single tasks',
      description: 'Give `email` (or `userId`) to release everything that user holds untouched, or `taskIds`. Saved drafts and open issues are skipped (their history stays).',
      params: ProjectParams,
      body: Type.Object({
        userId: Type.Optional(Type.Integer({ minimum: 1 })), email: Type.Optional(Type.String({ format: 'email' })),
        taskIds: Type.Optional(TaskIds),
      }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { body } = request;
    let userId = body.userId;
    if (body.email) {
      const email = normalizeEmail(body.email);
      const member = (await request.services.members.list(access)).find((m) => m.user.email === email);
      if (!member) throw unprocessable('Not a member of this project', { email: body.email });
      userId = member.user.id;
    }
    let selection;
    if (body.taskIds) selection = { ids: body.taskIds };
    else if (userId) selection = { filter: heldByFilter(userId), excluded: [] };
    else throw unprocessable('Give a user (email or userId) or taskIds', { taskIds: 'required without a user' });
    const started = await request.services.bulk.start(access, user, 'release', {}, selection);
    if (started.kind === 'queued') return { changed: 0, skipped: {}, operationId: started.operation.id };
    return { changed: started.outcome.changed, skipped: started.outcome.skipped };
  });
};

export default queueApi;
