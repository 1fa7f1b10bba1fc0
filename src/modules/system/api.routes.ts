import type { FastifyInstance } from 'fastify';
import projectsApi from '../projects/projects.api.ts';
import tasksApi from '../tasks/tasks.api.ts';
import answersApi from '../answers/answers.api.ts';
import exportsApi from '../exports/exports.api.ts';
import queueApi from '../queue/queue.api.ts';
import deliveriesApi from '../deliveries/deliveries.api.ts';
import uploadsApi from '../uploads/uploads.api.ts';
import archivesApi from '../archives/archives.api.ts';
import { TOKEN_REQUIRED, unauthorized } from '../../lib/errors.ts';
import statsApi from '../stats/stats.api.ts';
import { refuseOtherMediaTypes } from './api-media-types.ts';

/** /api/v1: bearer-token JSON API. Every route here needs a token. */
export default async function apiRoutes(fastify: FastifyInstance, opts: { maxUploadBytes: number }) {
  fastify.addHook('onRequest', async (request) => {
    // routes with tokenAccess authenticate in their own first statement (same answer when the token is bad)
    if (!request.user && !request.routeOptions.config.tokenAccess) throw unauthorized(TOKEN_REQUIRED);
  });
  fastify.addHook('onRequest', refuseOtherMediaTypes);
  await fastify.register(projectsApi);
  await fastify.register(tasksApi);
  await fastify.register(answersApi);
  await fastify.register(exportsApi);
  await fastify.register(queueApi);
  await fastify.register(deliveriesApi);
  await fastify.register(uploadsApi, { maxFileBytes: opts.maxUploadBytes });
  await fastify.register(archivesApi);
  await fastify.register(statsApi);
}
