import fp from 'fastify-plugin';
import { Value } from 'typebox/value';
import type { Config } from '../../config.ts';
import { HttpError } from '../../lib/errors.ts';
import { DEAD_LETTER_POLL_SECONDS, deadLetterPolicy, deadLetterQueue, finalFailureReason, queuePolicy, RETRY_POLL_SECONDS } from '../../jobs/failure-policy.ts';
import { jobs } from '../../jobs/index.ts';
import { FailedJobs } from '../../jobs/failed-jobs.ts';
import type { HookContext } from '../../jobs/job.ts';
import { createServices } from './services.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** dead letters of every job kind, for the admin's Failed jobs page */
    failedJobs: FailedJobs;
  }
}

/**
 * Creates the queues of every job (each with its dead-letter queue, under the one failure policy)
 * and, unless disabled, runs their workers in this process. Several processes may do this against
 * one database: pg-boss hands each job to one worker.
 *
 * How a run ends, for every job alike:
 * - it returns: done;
 * - it throws an HttpError (the owner lost access, the payload is no longer valid): the job's
 *   `failed` hook shows that reason to the user at once, and it is not retried;
 * - it throws anything else: pg-boss retries it with backoff, and once the attempts are used up the
 *   job lands in its dead-letter queue, whose worker calls `failed` with a final reason. The dead
 *   letter stays listed for admins (the Failed jobs page) to retry or drop.
 */
export default fp(
  async function jobsPlugin(fastify, opts: { config: Config }) {
    // aborted on close (SIGTERM): running jobs stop at their next chunk boundary and fail into a
    // quick retry, so the next process resumes them without waiting for a heartbeat to expire
    const stopping = new AbortController();
    fastify.addHook('onClose', async () => stopping.abort(new Error('the server is shutting down')));
    const polling = { pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: RETRY_POLL_SECONDS };
    const hookContext = (log: HookContext['log']): HookContext => {
      const em = fastify.orm.em.fork();
      return { em, services: createServices(em, fastify.boss), log };
    };
    fastify.decorate('failedJobs', new FailedJobs(jobs, fastify.boss, () => hookContext(fastify.log)));

    for (const job of jobs) {
      const queue = queuePolicy(job.name, job.kind, job.queue);
      const dead = deadLetterQueue(job.name);
      await fastify.boss.createQueue(dead, deadLetterPolicy());
      await fastify.boss.updateQueue(dead, deadLetterPolicy());
      await fastify.boss.createQueue(job.name, { notify: true, ...queue });
      // queues made by an older version keep their old settings unless updated
      await fastify.boss.updateQueue(job.name, queue);
      if (job.schedule) await fastify.boss.schedule(job.name, job.schedule(opts.config), null, { tz: 'UTC' });
      if (!opts.config.RUN_WORKERS) continue;

      await fastify.boss.work(job.name, { localConcurrency: job.concurrency ?? 1, includeMetadata: true, ...polling }, async ([item]) => {
        const log = fastify.log.child({ job: job.name, jobId: item.id, attempt: item.retryCount + 1 });
        if (job.payload && !Value.Check(job.payload, item.data)) {
          log.warn({ data: item.data }, 'ignoring a job with a malformed payload');
          return;
        }
        const em = fastify.orm.em.fork();
        const signal = AbortSignal.any([item.signal, stopping.signal]);
        try {
          await job.run(item.data, { em, services: createServices(em, fastify.boss), boss: fastify.boss, config: opts.config, log, signal, jobId: item.id, createdOn: item.createdOn });
        } catch (err) {
          if (stopping.signal.aborted) {
            log.info('job stopped for shutdown; the next process resumes it');
            throw err;
          }
          if (err instanceof HttpError) {
            log.warn({ reason: err.message }, 'job refused; not retried');
            await job.failed?.(item.data, err.message, hookContext(log));
            return;
          }
          log.error({ err }, 'job failed; pg-boss retries it until its attempts are used up, then it goes to its dead-letter queue');
          throw err;
        }
      });

      // a job that used up its attempts (its handler may have died with its process): the user sees it failed
      await fastify.boss.work(dead, { pollingIntervalSeconds: DEAD_LETTER_POLL_SECONDS, notifyPollingIntervalSeconds: DEAD_LETTER_POLL_SECONDS }, async ([item]) => {
        const log = fastify.log.child({ job: dead, jobId: item.id });
        log.error({ data: item.data }, 'job used up its attempts; it is listed on the Failed jobs page');
        if (job.payload && !Value.Check(job.payload, item.data)) return;
        await job.failed?.(item.data, finalFailureReason(queue.retryLimit ?? 0), hookContext(log));
      });
    }
  },
  { name: 'jobs', dependencies: ['boss', 'orm'] },
);
