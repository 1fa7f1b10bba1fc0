import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { OUTPUT_FIELD_TYPES } from '../projects/project.entity.ts';
import { errorResponses, Nullable, StageRef, UserRef } from '../system/api.schemas.ts';
import type { AnswerSetRecord } from '../tasks/task-detail.service.ts';
import { METHOD_LABELS } from './answer-compare.ts';
import { MAX_COMPARE_SETS, parseSetIds } from './answers.service.ts';
import { TaskParams } from '../../lib/params.ts';
import { CompareQuery } from './answers.schemas.ts';

const AnswerSetBody = Type.Object({
  id: Type.Integer(),
  kind: Type.String({ enum: ['default', 'submission', 'correction'], description: '`default`: model predictions / default answers from the upload' }),
  label: Type.String(),
  stage: Nullable(StageRef, { description: 'null for default answers' }),
  user: Nullable(UserRef, { description: 'null for default answers' }),
  version: Type.Integer(),
  submitted: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
}, { title: 'AnswerSet' });
const AnswerSetWithAnswers = Type.Intersect([AnswerSetBody, Type.Object({ answers: Type.Record(Type.String(), Type.Unknown()) })], { title: 'AnswerSetWithAnswers' });

const methods = Object.keys(METHOD_LABELS);
const Comparison = Type.Object({
  task: Type.Object({ id: Type.Integer(), name: Type.String() }, { title: 'TaskRef' }),
  sets: Type.Array(AnswerSetBody, { description: 'The compared sets, in reading order (default answers first, then workflow order)' }),
  fields: Type.Array(
    Type.Object({
      name: Type.String(),
      type: Nullable(Type.String({ enum: [...OUTPUT_FIELD_TYPES], description: 'Output type; null for a key the output schema does not list (compared as JSON)' })),
      method: Type.String({ enum: methods }),
      agreement: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'Mean similarity over the pairs of sets that are not both missing; null when no set has the field' })),
      pairs: Type.Integer({ description: 'Number of pairs the agreement is the mean of' }),
      referenceSetId: Type.Integer({ description: 'The set whose value agrees most with the others (ties: the first)' }),
      values: Type.Array(
        Type.Object({
          setId: Type.Integer(),
          value: Type.Unknown({ description: 'The stored value; null when missing' }),
          missing: Type.Boolean(),
          similarity: Type.Number({ description: 'Similarity to the reference value, 0–1' }),
          differs: Type.Boolean({ description: 'similarity < 1' }),
        }),
      ),
    }),
  ),
  overall: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'Mean of the defined field agreements' })),
  numberTolerance: Type.Number({ description: 'Numbers agree when |a − b| ≤ numberTolerance · max(1, |a|, |b|)' }),
}, { title: 'AnswerComparison' });

const errors = errorResponses(401, 404, 422);

const setBody = (s: AnswerSetRecord) => ({
  id: s.id,
  kind: s.kind,
  label: s.label,
  stage: s.stageId === null ? null : { id: s.stageId, name: s.stage ?? '' },
  user: s.userId === null ? null : { id: s.userId, name: s.user ?? '' },
  version: s.version,
  submitted: s.submitted,
  createdAt: s.createdAt.toISOString(),
  updatedAt: s.updatedAt.toISOString(),
});

/** Answer sets of a task in the JSON API: list and compare (same access rule as the task view). */
const answersApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/tasks/:taskId/answers', {
    schema: {
      tags: ['answers'], operationId: 'listAnswerSets', summary: 'The answer sets of a task, with their answers',
      description: 'Default answers (model predictions) first, then submissions and corrections in workflow order. Members see only tasks assigned to them or that they worked on.',
      params: TaskParams,
      response: { 200: Type.Object({ items: Type.Array(AnswerSetWithAnswers) }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { taskId } = request.params;
    const { sets } = await request.services.answers.list(access, user, taskId);
    return { items: sets.map((s) => ({ ...setBody(s), answers: s.answers })) };
  });

  fastify.get('/tasks/:taskId/answers/compare', {
    schema: {
      tags: ['answers'], operationId: 'compareAnswerSets', summary: 'Compare answer sets of a task field by field, with agreement figures',
      description:
        `\`sets\`: 2–${MAX_COMPARE_SETS} answer set ids of the task, comma-separated. Per field: exact for boolean and choice; ` +
        'numbers within a relative tolerance; Jaccard for multi-choice; Dice of lowercase word tokens for text; share of equal leaf paths for JSON. ' +
        'Missing vs present counts 0; pairs where both are missing are left out. More than two sets: the mean over all pairs. Overall: the mean of the defined field agreements.',
      params: TaskParams, querystring: CompareQuery,
      response: { 200: Comparison, ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const { access } = request;
    const { taskId } = request.params;
    const ids = parseSetIds(request.query.sets);
    if (ids.length < 2) throw unprocessable('Choose at least two answer sets to compare', { sets: `${ids.length} id${ids.length === 1 ? '' : 's'} given` });
    const c = await request.services.answers.compare(access, user, taskId, ids);
    return {
      task: { id: c.task.id, name: c.task.name },
      sets: c.chosen.map(setBody),
      fields: c.rows.map((row) => ({
        name: row.name,
        type: row.type,
        method: row.method,
        agreement: row.agreement,
        pairs: row.pairs,
        referenceSetId: row.referenceSetId,
        values: row.cells.map((cell) => ({
          setId: cell.setId,
          value: cell.raw === undefined ? null : cell.raw,
          missing: cell.missing,
          similarity: cell.similarity,
          differs: cell.differs,
        })),
      })),
      overall: c.overall,
      numberTolerance: c.numberTolerance,
    };
  });
};

export default answersApi;
