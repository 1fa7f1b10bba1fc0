import fp from 'fastify-plugin';
import { PgBoss } from 'pg-boss';
import { SUPERVISE_INTERVAL_SECONDS } from '../../jobs/failure-policy.ts';

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss;
  }
}

/** pg-boss in this process; queues and workers are registered by the jobs plugin. */
export default fp(
  async function boss(fastify, opts: { databaseUrl: string }) {
    const instance = new PgBoss({ connectionString: opts.databaseUrl, max: 5, useListenNotify: true,
      // finds jobs whose heartbeat stopped (a killed process) this often: part of the resume time
      superviseIntervalSeconds: SUPERVISE_INTERVAL_SECONDS, monitorIntervalSeconds: SUPERVISE_INTERVAL_SECONDS });
    instance.on('error', (err) => fastify.log.error({ err }, 'pg-boss error'));
    await instance.start();
    fastify.decorate('boss', instance);
    fastify.addHook('onClose', async () => {
      // running jobs were told to stop at their next chunk boundary (jobs plugin); wait for them
      await instance.stop({ graceful: true, timeout: 15_000 });
    });
  },
  { name: 'boss' },
);
