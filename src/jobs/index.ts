import type { JobDefinition } from './job.ts';
import { archiveInactiveTasks } from './archive-inactive-tasks.job.ts';
import { expireExports } from './expire-exports.job.ts';
import { runExport } from './run-export.job.ts';
import { runBulkOperation } from './run-bulk-operation.job.ts';
import { deliverTask } from './deliver-task.job.ts';
import { processUploadJob } from './process-upload.job.ts';
import { sweepUploadsJob } from './sweep-uploads.job.ts';
import { refreshDashboard } from './refresh-dashboard.job.ts';

/** Every background job of the app. Each job module adds itself here. */
export const jobs: JobDefinition<any>[] = [runBulkOperation, runExport, archiveInactiveTasks, expireExports, deliverTask, processUploadJob, sweepUploadsJob, refreshDashboard];
