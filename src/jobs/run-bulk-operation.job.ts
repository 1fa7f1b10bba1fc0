import { Type } from 'typebox';
import { RUN_BULK_OPERATION } from '../modules/bulk/bulk.service.ts';
import { defineJob } from './job.ts';

const payload = Type.Object({ operationId: Type.Integer({ minimum: 1 }) });

/** Runs a large bulk action of the task list in chunks, keeping its progress up to date. */
export const runBulkOperation = defineJob<{ operationId: number }>({
  name: RUN_BULK_OPERATION,
  label: 'Bulk action',
  payload,
  kind: 'long',
  concurrency: 1,
  async run(data, { services, signal }) {
    await services.bulk.runNow(data.operationId, { signal });
  },
  failed: (data, reason, { services }) => services.bulk.fail(data.operationId, reason),
  reopen: (data, { services }) => services.bulk.reopen(data.operationId),
});
