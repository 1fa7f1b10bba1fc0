import type { JobDefinition } from './job.ts';

/** Every background job of the app. Each job module adds itself here. */
export const jobs: JobDefinition<any>[] = [];
