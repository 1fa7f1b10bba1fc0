import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import projectScope from '../../plugins/app/project-scope.ts';
import projectsApi, { projectApi } from '../projects/projects.api.ts';
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
import { limitApiConcurrency } from '../../plugins/app/api-concurrency.ts';
import projectSetupApi, { projectCreationApi } from '../projects/project-setup.api.ts';
import stagesApi from '../stages/stages.api.ts';
import membersApi from '../members/members.api.ts';
import webhookApi from '../deliveries/webhook.api.ts';
import usersApi from '../users/users.api.ts';

/** /api/v1: bearer-token JSON API. Every route here needs a token. */
const apiRoutes: FastifyPluginAsyncTypebox<{ maxUploadBytes: number; publicUrl?: string; concurrency: number }> = async (fastify, opts) => {
  limitApiConcurrency(fastify, opts.concurrency);
  fastify.addHook('onRequest', async (request) => {
    // routes with tokenAccess authenticate in their own first statement (same answer when the token is bad)
    if (!request.user && !request.routeOptions.config.tokenAccess) throw unauthorized(TOKEN_REQUIRED);
  });
  fastify.addHook('onRequest', refuseOtherMediaTypes);
  await fastify.register(projectsApi);
  await fastify.register(projectCreationApi);
  await fastify.register(usersApi, { publicUrl: opts.publicUrl });
  // one project's routes: the scope loads the token user's access once (the hot work routes read theirs)
  await fastify.register(async function projectRoutes(project) {
    await project.register(projectScope);
    await project.register(projectApi);
    await project.register(tasksApi);
    await project.register(answersApi);
    await project.register(exportsApi);
    await project.register(queueApi);
    await project.register(deliveriesApi);
    await project.register(uploadsApi, { maxFileBytes: opts.maxUploadBytes });
    await project.register(archivesApi);
    await project.register(statsApi);
    await project.register(projectSetupApi);
    await project.register(stagesApi);
    await project.register(membersApi);
    await project.register(webhookApi);
  }, { prefix: '/projects/:projectId' });
};

export default apiRoutes;
