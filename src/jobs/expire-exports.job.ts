import { defineJob } from './job.ts';

/** Hourly: deletes export files older than EXPORT_RETENTION_DAYS. */
export const expireExports = defineJob<object>({
  name: 'expire-exports',
  label: 'Export expiry',
  kind: 'short',
  schedule: () => '17 * * * *',
  async run(_data, { services, config, log }) {
    const expired = await services.exports.expireOld(new Date(), config.EXPORT_RETENTION_DAYS);
    if (expired) log.info({ expired }, 'expired old exports');
  },
});
