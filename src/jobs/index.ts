import type { JobDefinition } from './job.ts';
import { runBulkOperation } from './run-bulk-operation.job.ts';

/** Every background job of the app. Each job module adds itself here. */
export const jobs: JobDefinition<any>[] = [runBulkOperation];
