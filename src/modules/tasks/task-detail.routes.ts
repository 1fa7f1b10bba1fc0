import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';

const TaskParams = Type.Object({ projectId: Type.Integer({ minimum: 1 }), taskId: Type.Integer({ minimum: 1 }) });

/** The read-only task view (SPEC §5): inputs, metadata, assignments, answer sets and history. */
export default async function taskDetailRoutes(fastify: FastifyInstance) {
  fastify.get('/projects/:projectId/tasks/:taskId', { schema: { params: TaskParams } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId, taskId } = request.params as { projectId: number; taskId: number };
    const access = await request.services.projects.access(user, projectId);
    const view = await request.services.taskDetail.view(access, user, taskId);
    return reply.render('tasks/show', {
      title: `Task ${view.task.id} · ${access.project.name}`,
      access,
      project: access.project,
      section: 'tasks',
      view,
    });
  });
}
