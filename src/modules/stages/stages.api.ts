import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound } from '../../lib/errors.ts';
import { StageBody, toStage } from '../projects/projects.api.ts';
import { ProjectParams, StageRefParams } from '../../lib/params.ts';
import { ReviewPercent } from '../projects/projects.schemas.ts';
import { ErrorResponse } from '../system/api.schemas.ts';
import { findStage } from './stage-ref.ts';

/** Every route here is for project admins: the project scope refuses everyone else. */
const ADMIN = { role: 'admin' as const };
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };

/** Review stages in the JSON API (project admins), with the settings page's rules and its lock per project. */
const stagesApi: FastifyPluginAsyncTypebox = async (fastify) => {
  /** The stage a path names (its name or id), else 404. */
  const stageOf = (stages: { id: number; name: string }[], ref: string) => {
    const stage = findStage(stages, ref);
    if (!stage) throw notFound('No such stage');
    return stage;
  };

  fastify.post('/stages', {
    config: ADMIN,
    schema: {
      operationId: 'addStage', tags: ['projects'],
      summary: 'Add a review stage (Review_<n+1>) just before Ground Truth; at most 10',
      description: 'Its review percentage is `reviewPercent`, 100 when left out.',
      params: ProjectParams,
      body: Type.Object({ reviewPercent: Type.Optional(ReviewPercent) }, { additionalProperties: false }),
      response: { 201: StageBody, ...errors, 409: ErrorResponse },
    },
    // a POST without a body is the same as `{}`
    preValidation: async (request) => {
      request.body ??= {};
    },
  }, async (request, reply) => {
    const access = request.access;
    const stage = await request.services.projects.addReviewStage(access, request.body.reviewPercent ?? 100);
    return reply.code(201).send(toStage(stage));
  });

  fastify.patch('/stages/:stage', {
    config: ADMIN,
    schema: {
      operationId: 'updateStage', tags: ['projects'],
      summary: 'Set a review stage’s review percentage (0 disables it)',
      params: StageRefParams,
      body: Type.Object({ reviewPercent: ReviewPercent }, { additionalProperties: false }),
      response: { 200: StageBody, ...errors },
    },
  }, async (request) => {
    const access = request.access;
    const stage = stageOf(access.stages, request.params.stage);
    return toStage(await request.services.projects.setReviewPercent(access, stage.id, request.body.reviewPercent));
  });

  fastify.delete('/stages/:stage', {
    config: ADMIN,
    schema: {
      operationId: 'removeStage', tags: ['projects'],
      summary: 'Remove a review stage no task has been in',
      description: 'Refused (409) once tasks have been in the stage (set its review percentage to 0 instead), and while members may work only in it (their stage access would silently become every stage).',
      params: StageRefParams,
      response: { 204: Type.Null({ description: 'Removed' }), ...errors, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const access = request.access;
    await request.services.projects.removeReviewStage(access, stageOf(access.stages, request.params.stage).id);
    return reply.code(204).send(null);
  });
};

export default stagesApi;
