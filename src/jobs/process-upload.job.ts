import { Type } from 'typebox';
import { defineJob } from './job.ts';
import { PROCESS_UPLOAD_JOB } from '../modules/uploads/uploads.service.ts';

const payload = Type.Object({ uploadId: Type.Integer({ minimum: 1 }) });

/**
 * Parses, validates and inserts the rows of one stored upload file. Idempotent and resumable: the
 * service re-reads the upload row and continues after its last committed batch.
 */
export const processUploadJob = defineJob<{ uploadId: number }>({
  name: PROCESS_UPLOAD_JOB,
  label: 'Upload processing',
  payload,
  // a killed worker stops sending heartbeats: pg-boss then retries the job, which resumes after its last batch
  kind: 'long',
  concurrency: 2,
  async run(data, { services, log, signal }) {
    await services.uploads.processNow(data.uploadId, log, signal);
  },
  failed: (data, reason, { services }) => services.uploads.fail(data.uploadId, reason),
  reopen: (data, { services }) => services.uploads.reopen(data.uploadId),
  dropped: (data, { services }) => services.uploads.dropFile(data.uploadId),
});
