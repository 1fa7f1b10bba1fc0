import { defineJob } from './job.ts';
import { SWEEP_UPLOADS_JOB } from '../modules/uploads/uploads.service.ts';

/**
 * Every minute: uploads whose request died before the whole file arrived are failed. (A killed
 * processing job needs no sweep: its heartbeat stops and the failure policy retries it.)
 */
export const sweepUploadsJob = defineJob<object>({
  name: SWEEP_UPLOADS_JOB,
  label: 'Upload clean-up',
  kind: 'short',
  // it runs again within a minute anyway
  queue: { retryLimit: 0, expireInSeconds: 300 },
  schedule: () => '* * * * *',
  async run(_data, { services, log }) {
    await services.uploads.failAbandoned(log);
  },
});
