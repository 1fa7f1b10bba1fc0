import { defineJob } from './job.ts';
import { SWEEP_UPLOADS_JOB } from '../modules/uploads/uploads.service.ts';

/**
 * Every minute (and once when a process starts): uploads that should be running but that no
 * worker holds — their process was killed — get a new job; files whose request died are failed.
 */
export const sweepUploadsJob = defineJob<object>({
  name: SWEEP_UPLOADS_JOB,
  kind: 'short',
  // it runs again within a minute anyway
  queue: { retryLimit: 0, expireInSeconds: 300 },
  schedule: () => '* * * * *',
  async run(_data, { services, boss, log }) {
    await services.uploads.sweep(boss, log);
  },
});
