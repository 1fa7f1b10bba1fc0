import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ProjectParams, UploadParams } from '../../lib/params.ts';
import { HISTORY_PAGE_SIZE, HistoryQuery, toErrorBody, toUploadBody, UploadBody, UploadErrorBody, UploadRequest } from './uploads.schemas.ts';
import { receiveUpload, sendFailedRows } from './uploads.routes.ts';

/** Uploads over the JSON API: create (multipart), status, errors, failed rows, cancel, delete. */
const uploadsApi: FastifyPluginAsyncTypebox<{ maxFileBytes: number }> = async (fastify, opts) => {
  // a member gets 403 (manager work); a project or upload they cannot see, 404
  const errors = errorResponses(401, 403, 404, 422);
  const config = { role: 'manager' } as const;

  fastify.post('/uploads', {
    config: { ...config, transfer: true },
    schema: {
      tags: ['uploads'], operationId: 'createUpload',
      summary: 'Upload a CSV, JSON, JSONL or RedBrick items file of tasks',
      description: 'multipart/form-data with a `file` and optional `defaultPriority`, `defaultPriorityScore`, `clientBatchId`. '
        + 'The file is stored, then processed by a background job: poll the returned upload (its URL is the `Location` header) until its status is final.',
      consumes: ['multipart/form-data'],
      multipartBody: UploadRequest,
      params: ProjectParams,
      response: {
        202: UploadBody,
        // 413: the file is larger than UPLOAD_MAX_BYTES; 400: unreadable multipart (both also in swagger.ts's body errors)
        ...errors, ...errorResponses(409),
      },
    },
  }, async (request, reply) => {
    const { projectId } = request.params;
    const upload = await receiveUpload(request, request.access, opts.maxFileBytes);
    return reply.code(202).header('Location', `/api/v1/projects/${projectId}/uploads/${upload.id}`).send(toUploadBody(upload));
  });

  fastify.get('/uploads', {
    config,
    schema: {
      tags: ['uploads'], operationId: 'listUploads', summary: 'Upload history, newest first', params: ProjectParams, querystring: HistoryQuery,
      response: { 200: Type.Object({ items: Type.Array(UploadBody), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }, { title: 'UploadPage' }), ...errors },
    },
  }, async (request) => {
    const { page = 1 } = request.query;
    const history = await request.services.uploads.history(request.access, page, HISTORY_PAGE_SIZE);
    return { items: history.rows.map(toUploadBody), total: history.total, page, pageSize: HISTORY_PAGE_SIZE };
  });

  fastify.get('/uploads/:uploadId', {
    config,
    schema: { tags: ['uploads'], operationId: 'getUpload', summary: 'One upload: status, counters, progress', params: UploadParams, response: { 200: UploadBody, ...errors } },
  }, async (request) => {
    return toUploadBody(await request.services.uploads.get(request.access, request.params.uploadId));
  });

  fastify.get('/uploads/:uploadId/errors', {
    config,
    schema: {
      tags: ['uploads'], operationId: 'listUploadErrors', summary: 'The kept error rows of an upload (at most 1,000)', params: UploadParams,
      response: { 200: Type.Object({ items: Type.Array(UploadErrorBody) }), ...errors },
    },
  }, async (request) => {
    const upload = await request.services.uploads.get(request.access, request.params.uploadId);
    return { items: (await request.services.uploads.errors(upload)).map(toErrorBody) };
  });

  fastify.get('/uploads/:uploadId/failed-rows', {
    config,
    schema: {
      tags: ['uploads'], operationId: 'downloadUploadFailedRows', summary: 'Every rejected row, re-uploadable, with an error column (CSV) or key (JSON Lines)', params: UploadParams,
      produces: ['text/csv', 'application/x-ndjson'],
      response: { 200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'CSV for a CSV upload, else JSON Lines' }), ...errors },
    },
  }, async (request, reply) => {
    return sendFailedRows(request, reply, await request.services.uploads.get(request.access, request.params.uploadId));
  });

  fastify.post('/uploads/:uploadId/cancellation', {
    config,
    schema: {
      tags: ['uploads'], operationId: 'cancelUpload', summary: 'Cancel a queued or running upload (tasks already created stay)', params: UploadParams,
      response: { 200: UploadBody, ...errors, ...errorResponses(409) },
    },
  }, async (request) => {
    return toUploadBody(await request.services.uploads.cancel(request.access, request.params.uploadId));
  });

  fastify.delete('/uploads/:uploadId', {
    config: { role: 'admin' },
    schema: {
      tags: ['uploads'], operationId: 'deleteUpload', summary: 'Delete an upload (project admins): archives its tasks without submitted or saved work', params: UploadParams,
      response: {
        200: Type.Object({ upload: UploadBody, archived: Type.Integer(), kept: Type.Integer(), archiveId: Nullable(Type.Integer()) }, { title: 'UploadDeletion' }),
        ...errors, ...errorResponses(409),
      },
    },
  }, async (request) => {
    const result = await request.services.uploads.delete(request.access, request.requireUser(), request.params.uploadId);
    return { ...result, upload: toUploadBody(result.upload) };
  });
};

export default uploadsApi;
