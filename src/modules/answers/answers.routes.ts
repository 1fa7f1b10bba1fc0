import type { FastifyInstance } from 'fastify';
import { canonicalSetsQuery, MAX_COMPARE_SETS, parseSetIds } from './answers.service.ts';
import { CompareQuery, TaskParams, type CompareQueryT } from './answers.schemas.ts';

/** Compare answers (SPEC §5): chosen answer sets of a task side by side, with agreement figures. */
export default async function answersRoutes(fastify: FastifyInstance) {
  fastify.get('/projects/:projectId/tasks/:taskId/compare', { schema: { params: TaskParams, querystring: CompareQuery } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId, taskId } = request.params as { projectId: number; taskId: number };
    const access = await request.services.projects.access(user, projectId);
    const ids = parseSetIds((request.query as CompareQueryT).sets);
    const comparison = await request.services.answers.compare(access, user, taskId, ids);

    // one URL per comparison: sorted, distinct ids, comma-separated, nothing else
    const path = `/projects/${projectId}/tasks/${taskId}/compare`;
    const canonical = ids.length ? `${path}?${canonicalSetsQuery(ids)}` : path;
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    if (query !== (ids.length ? canonicalSetsQuery(ids) : '')) return reply.redirect(canonical, 302);

    return reply.render(
      'answers/compare',
      {
        title: `Compare answers · Task ${comparison.task.id} · ${access.project.name}`,
        access,
        project: access.project,
        section: 'tasks',
        comparison,
        chosenIds: ids,
        maxSets: MAX_COMPARE_SETS,
        canonical,
      },
      ids.length === 1 ? 422 : 200,
    );
  });
}
