import { Type } from 'typebox';
import { RUN_EXPORT } from '../modules/exports/exports.service.ts';
import { defineJob } from './job.ts';

const payload = Type.Object({ exportId: Type.Integer({ minimum: 1 }) });

/** Writes one export file (CSV, JSON or JSONL) into PostgreSQL. */
export const runExport = defineJob<{ exportId: number }>({
  name: RUN_EXPORT,
  label: 'Export',
  payload,
  kind: 'long',
  concurrency: 1,
  async run(data, { services, signal }) {
    await services.exports.runNow(data.exportId, { signal });
  },
  failed: (data, reason, { services }) => services.exports.fail(data.exportId, reason),
  reopen: (data, { services }) => services.exports.reopen(data.exportId),
});
