import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TaskParams } from '../../lib/params.ts';

/** The read-only task view (SPEC §5): inputs, metadata, assignments, answer sets and history. */
const taskDetailRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/tasks/:taskId', { schema: { params: TaskParams } }, async (request, reply) => {
    const { access } = request;
    const view = await request.services.taskDetail.view(access, request.requireUser(), request.params.taskId);
    return reply.render('tasks/show', {
      title: `Task ${view.task.id} · ${access.project.name}`,
      access,
      project: access.project,
      section: 'tasks',
      view,
    });
  });
};

export default taskDetailRoutes;
