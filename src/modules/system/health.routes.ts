import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

const healthRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const Health = Type.Object({ status: Type.String() });

  /** The process is up. */
  fastify.get('/healthz', { schema: { response: { 200: Health } } }, async () => ({ status: 'ok' }));

  /** The database answers. */
  fastify.get('/readyz', { schema: { response: { 200: Health, 503: Health } } }, async (request, reply) => {
    try {
      await request.em.getConnection().execute('select 1');
      return { status: 'ok' };
    } catch (err) {
      request.log.warn({ err }, 'database not ready');
      return reply.code(503).send({ status: 'database unavailable' });
    }
  });
};

export default healthRoutes;
