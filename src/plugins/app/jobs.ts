import fp from 'fastify-plugin';
import { Value } from 'typebox/value';
import type { Config } from '../../config.ts';
import { deadLetterQueue, queuePolicy } from '../../jobs/failure-policy.ts';
import { jobs } from '../../jobs/index.ts';
import { createServices } from './services.ts';

/**
 * Creates the queues of every job (each with its dead-letter queue, under the one failure policy)
 * and, unless disabled, runs their workers in this process. Several processes may do this against
 * one database: pg-boss hands each job to one worker.
 */
export default fp(
  async function jobsPlugin(fastify, opts: { config: Config }) {
    // aborted on close (SIGTERM): running jobs stop at their next chunk boundary and fail into a
    // quick retry, so the next process resumes them without waiting for a heartbeat to expire
    const stopping = new AbortController();
    fastify.addHook('onClose', async () => stopping.abort(new Error('the server is shutting down')));
    for (const job of jobs) {
      const queue = queuePolicy(job.name, job.kind, job.queue);
      await fastify.boss.createQueue(deadLetterQueue(job.name), { retryLimit: 0 });
      await fastify.boss.createQueue(job.name, { notify: true, ...queue });
      // queues made by an older version keep their old settings unless updated
      await fastify.boss.updateQueue(job.name, queue);
      if (job.schedule) await fastify.boss.schedule(job.name, job.schedule(opts.config), null, { tz: 'UTC' });
      if (!opts.config.RUN_WORKERS) continue;
      await fastify.boss.work(job.name, { localConcurrency: job.concurrency ?? 1, pollingIntervalSeconds: 1 }, async ([item]) => {
        const em = fastify.orm.em.fork();
        const log = fastify.log.child({ job: job.name, jobId: item.id });
        const lastAttempt = item.retryCount >= (queue.retryLimit ?? 0);
        if (job.payload && !Value.Check(job.payload, item.data)) {
          log.warn({ data: item.data }, 'ignoring a job with a malformed payload');
          return;
        }
        const signal = AbortSignal.any([item.signal, stopping.signal]);
        try {
          await job.run(item.data, { em, services: createServices(em, fastify.boss), boss: fastify.boss, config: opts.config, log, signal, lastAttempt });
        } catch (err) {
          if (stopping.signal.aborted) log.info('job stopped for shutdown; the next process resumes it');
          else log.error({ err, lastAttempt }, lastAttempt ? 'job failed; it goes to its dead-letter queue' : 'job failed; it will be retried');
          throw err;
        }
      });
    }
  },
  { name: 'jobs', dependencies: ['boss', 'orm'] },
);
