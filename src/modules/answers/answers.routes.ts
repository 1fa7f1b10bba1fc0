import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TaskParams } from '../../lib/params.ts';
import { canonicalSetsQuery, MAX_COMPARE_SETS, parseSetIds } from './answers.service.ts';
import { CompareQuery } from './answers.schemas.ts';

/** Compare answers (SPEC §5): chosen answer sets of a task side by side, with agreement figures. */
const answersRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/tasks/:taskId/compare', { schema: { params: TaskParams, querystring: CompareQuery } }, async (request, reply) => {
    const { access } = request;
    const { taskId } = request.params;
    const ids = parseSetIds(request.query.sets);
    const comparison = await request.services.answers.compare(access, request.requireUser(), taskId, ids);

    // one URL per comparison: sorted, distinct ids, comma-separated, nothing else
    const path = `/projects/${access.project.id}/tasks/${taskId}/compare`;
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
};

export default answersRoutes;
