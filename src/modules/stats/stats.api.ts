import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../system/api.schemas.ts';
import { ProjectParams } from '../../lib/params.ts';
import { DEFAULT_RANGE, ProjectStats, StatsQuery } from './stats.schemas.ts';

/** The dashboard's figures in the JSON API: the same numbers as the Overview page, under the same rules. */
const statsApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/stats', {
    schema: {
      tags: ['projects'], operationId: 'getProjectStats',
      summary: 'Project statistics: progress, throughput, people and health (the Overview dashboard)',
      description: 'Admins and managers get the whole project (`scope: "project"`); members get their own figures only (`scope: "own"`: their tasks, their finalized work, the review outcomes of their labels; no client outcomes and no health). Large projects are served from figures a background job refreshes every few seconds: `live` is false and `ageSeconds` says how old they are.',
      params: ProjectParams,
      querystring: StatsQuery,
      response: { 200: ProjectStats, ...errorResponses(401, 404, 422) },
    },
  }, async (request) => {
    return request.services.stats.forViewer(request.access, request.requireUser(), request.query.range ?? DEFAULT_RANGE);
  });
};

export default statsApi;
