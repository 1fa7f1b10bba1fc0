import fp from 'fastify-plugin';
import { PgBoss } from 'pg-boss';

declare module 'fastify' {
  interface FastifyInstance {
    boss: PgBoss;
  }
}

/** pg-boss in this process; queues and workers are registered by the jobs plugin. */
export default fp(
  async function boss(fastify, opts: { databaseUrl: string }) {
    const instance = new PgBoss({ connectionString: opts.databaseUrl, max: 5, useListenNotify: true });
    instance.on('error', (err) => fastify.log.error({ err }, 'pg-boss error'));
    await instance.start();
    fastify.decorate('boss', instance);
    fastify.addHook('onClose', async () => {
      // let running jobs finish (they are idempotent, so a timeout only delays them to the next start)
      await instance.stop({ graceful: true, timeout: 15_000 });
    });
  },
  { name: 'boss' },
);
