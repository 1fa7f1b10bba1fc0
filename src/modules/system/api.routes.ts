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
import projectSetupApi from '../projects/project-setup.api.ts';
import stagesApi from '../stages/stages.api.ts';
import membersApi from '../members/members.api.ts';
import webhookApi from '../deliveries/webhook.api.ts';
import usersApi from '../users/users.api.ts';

/** /api/v1: bearer-token JSON API. Every route here needs a token. */
export default async function apiRoutes(fastify: FastifyInstance, opts: { maxUploadBytes: number; publicUrl?: string }) {
  fastify.addHook('onRequest', async (request) => {
    // routes with tokenAccess authenticate in their own first statement (same answer when the token is bad)
    if (!request.user && !request.routeOptions.config.tokenAccess) throw unauthorized(TOKEN_REQUIRED);
  });
  await fastify.register(projectsApi);
  await fastify.register(tasksApi);
  await fastify.register(answersApi);
  await fastify.register(exportsApi);
  await fastify.register(queueApi);
  await fastify.register(deliveriesApi);
  await fastify.register(uploadsApi, { maxFileBytes: opts.maxUploadBytes });
  await fastify.register(archivesApi);
  await fastify.register(statsApi);
  await fastify.register(projectSetupApi);
  await fastify.register(stagesApi);
  await fastify.register(membersApi);
  await fastify.register(webhookApi);
  await fastify.register(usersApi, { publicUrl: opts.publicUrl });
}
