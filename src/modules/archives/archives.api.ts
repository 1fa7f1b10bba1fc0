import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { PageQuery } from '../../lib/pagination.ts';
import { selectionFromApi } from '../selection/task-selection.ts';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ArchiveParams, ProjectParams } from '../../lib/params.ts';
import type { ArchiveRow } from './archives.repository.ts';
import { ArchiveDownloadQuery, sendArchiveFile } from './archives.routes.ts';

const Archive = Type.Object({
  id: Type.Integer(),
  reason: Type.String(),
  automatic: Type.Boolean({ description: 'made by auto-archiving (no creator)' }),
  createdBy: Nullable(Type.String({ description: 'The name of who archived' })),
  createdAt: Type.String({ format: 'date-time' }),
  taskCount: Type.Integer({ description: 'tasks archived into it' }),
  remaining: Type.Integer({ description: 'tasks still archived (fewer after a restore)' }),
  restoredAt: Nullable(Type.String({ format: 'date-time' })),
  restoredBy: Nullable(Type.String()),
  downloadUrl: Type.String(),
}, { title: 'Archive' });
const errors = errorResponses(401, 403, 404, 422);

const toBody = (projectId: number, a: ArchiveRow) => ({
  id: a.id, reason: a.reason, automatic: a.automatic, createdBy: a.createdBy, createdAt: a.createdAt.toISOString(),
  taskCount: a.taskCount, remaining: a.remaining, restoredAt: a.restoredAt?.toISOString() ?? null, restoredBy: a.restoredBy,
  downloadUrl: `/api/v1/projects/${projectId}/archives/${a.id}/download`,
});

/** Archives in the JSON API (admins and managers): archive tasks, list and read archives, download one, restore one. */
const archivesApi: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'manager' } as const;

  fastify.post('/archives', {
    config,
    schema: {
      tags: ['archives'], operationId: 'archiveTasks', summary: 'Archive tasks (by ids or a filter) into one archive record, with a reason',
      description: 'Give `taskIds` or `filter` (the query string of a task list view; an empty filter selects every task); tasks with saved work are skipped. Up to 5,000 tasks are archived at once (201); a larger selection runs in the background (202, follow `operationId`).',
      params: ProjectParams,
      body: Type.Object({
        reason: Type.Optional(Type.String({ maxLength: 2000 })),
        filter: Type.Optional(Type.String({ maxLength: 4000 })),
        taskIds: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 100_000 })),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({
          archive: Nullable(Archive, { description: 'null when no task could be archived' }), changed: Type.Integer(), skipped: Type.Record(Type.String(), Type.Integer()),
        }, { title: 'ArchiveOutcome' }),
        202: Type.Object({ operationId: Type.Integer(), status: Type.String() }, { title: 'BulkOperationStarted' }),
        ...errors,
      },
    },
  }, async (request, reply) => {
    const { access } = request;
    const started = await request.services.bulk.start(access, request.requireUser(), 'archive', { note: request.body.reason ?? '' }, selectionFromApi(request.body, { required: true, stages: access.stages }));
    if (started.kind === 'queued') return reply.code(202).send({ operationId: started.operation.id, status: started.operation.status });
    const { archiveId, changed, skipped } = started.outcome;
    const archive = archiveId ? toBody(access.project.id, await request.services.archives.get(access, archiveId)) : null;
    return reply.code(201).send({ archive, changed, skipped });
  });

  fastify.get('/archives', {
    config,
    schema: {
      tags: ['archives'], operationId: 'listArchives', summary: 'Archive records of the project, newest first (25 per page)', params: ProjectParams, querystring: PageQuery,
      response: { 200: Type.Object({ items: Type.Array(Archive), page: Type.Integer(), pages: Type.Integer(), total: Type.Integer() }, { title: 'ArchivePage' }), ...errors },
    },
  }, async (request) => {
    const { access } = request;
    const list = await request.services.archives.list(access, request.query.page ?? 1);
    return { items: list.rows.map((a) => toBody(access.project.id, a)), page: list.page, pages: list.pages, total: list.total };
  });

  fastify.get('/archives/:archiveId', {
    config,
    schema: { tags: ['archives'], operationId: 'getArchive', summary: 'One archive record', params: ArchiveParams, response: { 200: Archive, ...errors } },
  }, async (request) => {
    const { access } = request;
    return toBody(access.project.id, await request.services.archives.get(access, request.params.archiveId));
  });

  fastify.get('/archives/:archiveId/download', {
    config: { ...config, transfer: true },
    schema: {
      tags: ['archives'], operationId: 'downloadArchive', summary: 'The archive’s tasks in the upload format (CSV or JSON), ready to upload again', params: ArchiveParams,
      querystring: ArchiveDownloadQuery,
      produces: ['text/csv', 'application/json'],
      response: { 200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The file' }), ...errors },
    },
  }, async (request, reply) => {
    const { access } = request;
    return sendArchiveFile(reply, request.services, access, request.params.archiveId, request.query.format ?? 'csv');
  });

  fastify.post('/archives/:archiveId/restoration', {
    config,
    schema: {
      tags: ['archives'], operationId: 'restoreArchive', summary: 'Restore an archive: its tasks come back with their history',
      description: 'A task whose name is taken by a live task (uploaded again since) stays archived and is counted in `clashes`.',
      params: ArchiveParams,
      response: { 200: Type.Object({ restored: Type.Integer(), clashes: Type.Integer(), archive: Archive }, { title: 'Restoration' }), ...errors },
    },
  }, async (request) => {
    const { access } = request;
    const result = await request.services.archives.restore(access, request.requireUser(), request.params.archiveId);
    return { ...result, archive: toBody(access.project.id, await request.services.archives.get(access, request.params.archiveId)) };
  });
};

export default archivesApi;
