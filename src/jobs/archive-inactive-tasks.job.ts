import { defineJob } from './job.ts';

/** Nightly: archives the tasks of projects with auto-archive days set that have had no activity. */
export const archiveInactiveTasks = defineJob<object>({
  name: 'archive-inactive-tasks',
  label: 'Auto-archive',
  kind: 'long',
  schedule: (config) => config.AUTO_ARCHIVE_CRON,
  async run(_data, { services, log, jobId, createdOn, signal }) {
    const results = await services.archives.archiveInactive(createdOn, jobId, signal);
    for (const r of results) log.info(r, 'archived inactive tasks');
  },
});
