import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EXPORT_FORMATS } from './export-formats.ts';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ExportParams, ProjectParams } from '../../lib/params.ts';
import { selectionFromApi } from '../selection/task-selection.ts';
import type { ExportRow } from './exports.repository.ts';
import { sendExportFile } from './exports.routes.ts';

const ExportBody = Type.Object({
  id: Type.Integer(),
  format: Type.String({ enum: [...EXPORT_FORMATS] }),
  status: Type.String({ enum: ['queued', 'running', 'completed', 'failed', 'expired'] }),
  rowsTotal: Nullable(Type.Integer()),
  rowsWritten: Type.Integer(),
  sizeBytes: Type.Integer(),
  errorMessage: Nullable(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  finishedAt: Nullable(Type.String({ format: 'date-time' })),
  downloadUrl: Nullable(Type.String({ description: 'Set once completed' })),
}, { title: 'Export' });
const errors = errorResponses(401, 403, 404, 422);

const toBody = (projectId: number, r: ExportRow) => ({
  id: r.id, format: r.format, status: r.status, rowsTotal: r.rowsTotal, rowsWritten: r.rowsWritten, sizeBytes: r.sizeBytes,
  errorMessage: r.errorMessage, createdAt: r.createdAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null,
  downloadUrl: r.status === 'completed' ? `/api/v1/projects/${projectId}/exports/${r.id}/download` : null,
});

/** Exports in the JSON API: start one (a filter or task ids), follow it, download the file. */
const exportsApi: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'manager' } as const;

  fastify.post('/exports', {
    config,
    schema: {
      tags: ['exports'], operationId: 'createExport', summary: 'Export tasks as CSV, JSON or JSONL (runs in the background)',
      description: 'Give `filter` (the query string of a task list view, e.g. `state=completed&batch=b7`) or `taskIds`; neither exports every task. Poll the export until `completed`, then download it.',
      params: ProjectParams,
      body: Type.Object({
        format: Type.String({ enum: [...EXPORT_FORMATS] }),
        filter: Type.Optional(Type.String({ maxLength: 4000 })),
        taskIds: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 100_000 })),
      }, { additionalProperties: false }),
      response: { 202: ExportBody, ...errors },
    },
  }, async (request, reply) => {
    const { access } = request;
    const { body } = request;
    const selection = selectionFromApi(body, { stages: access.stages });
    const started = await request.services.exports.start(access, request.requireUser(), body.format, selection);
    reply.code(202);
    return toBody(access.project.id, await request.services.exports.get(access, started.id));
  });

  fastify.get('/exports', {
    config,
    schema: { tags: ['exports'], operationId: 'listExports', summary: 'Exports of the project, newest first (25 per page)', params: ProjectParams,
      querystring: Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, default: 1 })) }),
      response: { 200: Type.Object({ items: Type.Array(ExportBody), total: Type.Integer() }, { title: 'ExportPage' }), ...errors } },
  }, async (request) => {
    const { access } = request;
    const list = await request.services.exports.list(access, request.query.page ?? 1);
    return { items: list.rows.map((r) => toBody(access.project.id, r)), total: list.total };
  });

  fastify.get('/exports/:exportId', {
    config,
    schema: { tags: ['exports'], operationId: 'getExport', summary: 'One export and its progress', params: ExportParams, response: { 200: ExportBody, ...errors } },
  }, async (request) => {
    const { access } = request;
    return toBody(access.project.id, await request.services.exports.get(access, request.params.exportId));
  });

  fastify.get('/exports/:exportId/download', {
    config: { ...config, transfer: true },
    schema: {
      tags: ['exports'], operationId: 'downloadExport', summary: 'The file of a completed export (409 while it runs or once expired)', params: ExportParams,
      produces: ['text/csv', 'application/json', 'application/x-ndjson'],
      response: { 200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The file, in the export’s format' }), ...errors, ...errorResponses(409) },
    },
  }, async (request, reply) => {
    const { access } = request;
    return sendExportFile(reply, request.services, access, request.params.exportId);
  });
};

export default exportsApi;
