import fp from 'fastify-plugin';
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import { ormConfig } from '../../db/orm-config.ts';

declare module 'fastify' {
  interface FastifyInstance {
    orm: MikroORM;
  }
  interface FastifyRequest {
    /** This request's own EntityManager (a fork: its identity map dies with the request). */
    em: EntityManager;
  }
}

export default fp(
  async function orm(fastify, opts: { databaseUrl: string }) {
    const instance = await MikroORM.init(ormConfig(opts.databaseUrl));
    fastify.decorate('orm', instance);
    fastify.decorateRequest('em', null as unknown as EntityManager);
    fastify.addHook('onRequest', async (request) => {
      request.em = instance.em.fork();
    });
    fastify.addHook('onClose', async () => {
      await instance.close();
    });
  },
  { name: 'orm' },
);
