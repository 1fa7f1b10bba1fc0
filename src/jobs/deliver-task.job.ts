import { Type } from 'typebox';
import { DELIVER_TASK } from '../modules/workflow/completion.ts';
import { defineJob } from './job.ts';

const payload = Type.Object({ taskId: Type.Integer({ minimum: 1 }) });

/** POSTs a completed task to the project's webhook, signed; pg-boss retries failures with backoff. */
export const deliverTask = defineJob<{ taskId: number }>({
  name: DELIVER_TASK,
  label: 'Webhook delivery',
  payload,
  // 8 retries, exponential from 15 s (≈ 15 s, 30 s, 1 min … ≈ 30 min)
  // the one exception to the policy's delays: a receiver that is down gets time to come back
  kind: 'short',
  queue: { retryLimit: 8, retryDelay: 15, retryDelayMax: 3600, expireInSeconds: 120 },
  concurrency: 4,
  async run(data, { services }) {
    await services.deliveries.deliverNow(data.taskId);
  },
  failed: (data, reason, { services }) => services.deliveries.fail(data.taskId, reason),
  reopen: (data, { services }) => services.deliveries.reopen(data.taskId),
});
