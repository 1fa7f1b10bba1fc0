import type { JobDefinition } from './job.ts';
import { processUploadJob } from './process-upload.job.ts';
import { sweepUploadsJob } from './sweep-uploads.job.ts';

/** Every background job of the app. Each job module adds itself here. */
export const jobs: JobDefinition<any>[] = [processUploadJob, sweepUploadsJob];
