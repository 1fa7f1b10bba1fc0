import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { PageQuery } from '../../lib/pagination.ts';
import { selectionFromApi } from '../selection/task-selection.ts';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ProjectParams } from '../projects/projects.schemas.ts';
import type { ArchiveRow } from './archives.repository.ts';
import { sendArchiveFile } from './archives.routes.ts';
import { ARCHIVE_DOWNLOAD_FORMATS, type ArchiveDownloadFormat } from './archives.service.ts';

const ArchiveParams = Type.Object({ projectId: Type.Integer({ minimum: 1 }), archiveId: Type.Integer({ minimum: 1 }) });
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
  const managerAccess = (request: FastifyRequest) =>
    request.services.projects.access(request.requireUser(), (request.params as { projectId: number }).projectId, 'manager');

  fastify.post('/projects/:projectId/archives', {
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
    const access = await managerAccess(request);
    const started = await request.services.bulk.start(access, request.requireUser(), 'archive', { note: request.body.reason ?? '' }, selectionFromApi(request.body, { required: true, stages: access.stages }));
    if (started.kind === 'queued') return reply.code(202).send({ operationId: started.operation.id, status: started.operation.status });
    const { archiveId, changed, skipped } = started.outcome;
    const archive = archiveId ? toBody(access.project.id, await request.services.archives.get(access, archiveId)) : null;
    return reply.code(201).send({ archive, changed, skipped });
  });

  fastify.get('/projects/:projectId/archives', {
    schema: {
      tags: ['archives'], operationId: 'listArchives', summary: 'Archive records of the project, newest first (25 per page)', params: ProjectParams, querystring: PageQuery,
      response: { 200: Type.Object({ items: Type.Array(Archive), page: Type.Integer(), pages: Type.Integer(), total: Type.Integer() }, { title: 'ArchivePage' }), ...errors },
    },
  }, async (request) => {
    const access = await managerAccess(request);
    const list = await request.services.archives.list(access, request.query.page ?? 1);
    return { items: list.rows.map((a) => toBody(access.project.id, a)), page: list.page, pages: list.pages, total: list.total };
  });

  fastify.get('/projects/:projectId/archives/:archiveId', {
    schema: { tags: ['archives'], operationId: 'getArchive', summary: 'One archive record', params: ArchiveParams, response: { 200: Archive, ...errors } },
  }, async (request) => {
    const access = await managerAccess(request);
    return toBody(access.project.id, await request.services.archives.get(access, request.params.archiveId));
  });

  fastify.get('/projects/:projectId/archives/:archiveId/download', {
    schema: {
      tags: ['archives'], operationId: 'downloadArchive', summary: 'The archive’s tasks in the upload format (CSV or JSON), ready to upload again', params: ArchiveParams,
      querystring: Type.Object({ format: Type.Optional(Type.String({ enum: [...ARCHIVE_DOWNLOAD_FORMATS], default: 'csv' })) }),
      produces: ['text/csv', 'application/json'],
      response: { 200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The file' }), ...errors },
    },
  }, async (request, reply) => {
    const access = await managerAccess(request);
    return sendArchiveFile(reply, request.services, access, request.params.archiveId, (request.query.format ?? 'csv') as ArchiveDownloadFormat);
  });

  fastify.post('/projects/:projectId/archives/:archiveId/restoration', {
    schema: {
      tags: ['archives'], operationId: 'restoreArchive', summary: 'Restore an archive: its tasks come back with their history',
      description: 'A task whose name is taken by a live task (uploaded again since) stays archived and is counted in `clashes`.',
      params: ArchiveParams,
      response: { 200: Type.Object({ restored: Type.Integer(), clashes: Type.Integer(), archive: Archive }, { title: 'Restoration' }), ...errors },
    },
  }, async (request) => {
    const access = await managerAccess(request);
    const result = await request.services.archives.restore(access, request.requireUser(), request.params.archiveId);
    return { ...result, archive: toBody(access.project.id, await request.services.archives.get(access, request.params.archiveId)) };
  });
};

export default archivesApi;
