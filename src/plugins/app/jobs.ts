import fp from 'fastify-plugin';
import { Value } from 'typebox/value';
import type { Config } from '../../config.ts';
import { jobs } from '../../jobs/index.ts';
import { createServices } from './services.ts';

/** pg-boss's default number of retries after a failed attempt */
const DEFAULT_RETRY_LIMIT = 2;

/**
 * Creates the queues of every job and, unless disabled, runs their workers in this process.
 * Several processes may do this against one database: pg-boss hands each job to one worker.
 */
export default fp(
  async function jobsPlugin(fastify, opts: { config: Config }) {
    for (const job of jobs) {
      await fastify.boss.createQueue(job.name, { notify: true, ...job.queue });
      if (job.schedule) await fastify.boss.schedule(job.name, job.schedule(opts.config), null, { tz: 'UTC' });
      if (!opts.config.RUN_WORKERS) continue;
      await fastify.boss.work(job.name, { localConcurrency: job.concurrency ?? 1, pollingIntervalSeconds: 1 }, async ([item]) => {
        const em = fastify.orm.em.fork();
        const log = fastify.log.child({ job: job.name, jobId: item.id });
        const lastAttempt = item.retryCount >= (job.queue?.retryLimit ?? DEFAULT_RETRY_LIMIT);
        if (job.payload && !Value.Check(job.payload, item.data)) {
          log.warn({ data: item.data }, 'ignoring a job with a malformed payload');
          return;
        }
        try {
          await job.run(item.data, { em, services: createServices(em, fastify.boss), boss: fastify.boss, config: opts.config, log, signal: item.signal, lastAttempt });
        } catch (err) {
          log.error({ err, lastAttempt }, lastAttempt ? 'job failed' : 'job failed; it will be retried');
          throw err;
        }
      });
    }
  },
  { name: 'jobs', dependencies: ['boss', 'orm'] },
);
