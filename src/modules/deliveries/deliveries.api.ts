import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { ProjectParams } from '../../lib/params.ts';
import { BulkResult, errorResponses, Nullable, TaskIds, TaskState } from '../system/api.schemas.ts';

const errors = errorResponses(401, 403, 404, 422);
const Delivered = Type.Object({
  id: Type.Integer(), name: Type.String(), state: TaskState, priority: Type.Integer(), priorityScore: Nullable(Type.String()),
  clientBatchId: Nullable(Type.String()), data: Type.Unknown(), metadata: Type.Record(Type.String(), Type.String()),
  answers: Nullable(Type.Record(Type.String(), Type.Unknown(), { description: 'The final answers by output field' })),
  createdAt: Type.String({ format: 'date-time' }), completedAt: Nullable(Type.String({ format: 'date-time' })),
}, { title: 'DeliveredTask' });

const encodeCursor = (id: number) => Buffer.from(`after:${id}`).toString('base64url');
function decodeCursor(cursor: string): number {
  const match = /^after:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw unprocessable('Invalid cursor', { cursor: 'Use the nextCursor of a previous call' });
  return Number(match[1]);
}

/** The delivery feed and the client's answers (SPEC §4 Delivery, §8). */
const deliveriesApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/deliveries', {
    schema: {
      tags: ['delivery'], operationId: 'fetchDeliveries', summary: 'Fetch completed tasks, at least once',
      description: 'Returns the next completed tasks in id order with their final answers, as `sent`. Pass `nextCursor` back as `cursor` to continue: that confirms the receipt of everything sent up to it (those tasks become `delivered`). A page whose answer was lost is simply fetched again: call with the same cursor, or without one to start over (tasks not yet confirmed come again). Confirm the last page with one more call (it may be empty) or with `POST …/deliveries/receipt`. Tasks being delivered by the webhook are left out (a failed webhook delivery shows up here). Use one consumer per project.',
      params: ProjectParams,
      body: Type.Optional(Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })), cursor: Type.Optional(Type.String()) }, { additionalProperties: false })),
      response: { 200: Type.Object({ items: Type.Array(Delivered), nextCursor: Type.String({ description: 'After the last task returned (or the cursor given, when none was)' }) }, { title: 'DeliveryPage' }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const body = request.body ?? {};
    const cursor = body.cursor === undefined ? null : decodeCursor(body.cursor);
    const items = await request.services.deliveries.feed(access, user, cursor, body.limit ?? 100);
    return { items, nextCursor: encodeCursor(items.at(-1)?.id ?? cursor ?? 0) };
  });

  fastify.post('/deliveries/receipt', {
    schema: {
      tags: ['delivery'], operationId: 'confirmDeliveryReceipt', summary: 'Confirm receipt of tasks fetched from the feed (they become delivered)', params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds }, { additionalProperties: false }),
      response: { 200: Type.Object({ confirmed: Type.Integer({ description: 'tasks that were sent and are now delivered' }) }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    return { confirmed: await request.services.deliveries.confirmReceipt(access, user, request.body.taskIds) };
  });

  fastify.post('/deliveries/acknowledgement', {
    schema: {
      tags: ['delivery'], operationId: 'acknowledgeDeliveries', summary: 'Acknowledge delivered tasks (end state)', params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds }, { additionalProperties: false }), response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const outcome = await request.services.deliveries.respond(access, user, request.body.taskIds, null);
    return { changed: outcome.changed, skipped: outcome.skipped };
  });

  fastify.post('/deliveries/rejection', {
    schema: {
      tags: ['delivery'], operationId: 'rejectDeliveries', summary: 'Reject delivered tasks with a reason: state rejected, back to Label and its labeler', params: ProjectParams,
      body: Type.Object({ taskIds: TaskIds, reason: Type.String({ minLength: 1, maxLength: 2000 }) }, { additionalProperties: false }),
      response: { 200: BulkResult, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { body } = request;
    const outcome = await request.services.deliveries.respond(access, user, body.taskIds, { reason: body.reason });
    return { changed: outcome.changed, skipped: outcome.skipped };
  });

  fastify.get('/webhook-deliveries', {
    config: { role: 'manager' },
    schema: {
      tags: ['delivery'], operationId: 'listWebhookDeliveries', summary: 'The latest webhook attempts (admins, managers)', params: ProjectParams,
      response: {
        200: Type.Object({ delivering: Type.Integer(), items: Type.Array(Type.Object({
          taskId: Type.Integer(), attempt: Type.Integer(), status: Type.String(), responseStatus: Nullable(Type.Integer()),
          error: Nullable(Type.String()), durationMs: Nullable(Type.Integer()), createdAt: Type.String({ format: 'date-time' }),
        }, { title: 'WebhookAttempt' })) }),
        ...errors,
      },
    },
  }, async (request) => {
    const { access } = request;
    const items = await request.services.deliveries.recentAttempts(access);
    return { delivering: await request.services.deliveries.deliveringCount(access), items: items.map(({ id: _id, ...a }) => ({ ...a, createdAt: a.createdAt.toISOString() })) };
  });
};

export default deliveriesApi;
