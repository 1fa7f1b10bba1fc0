import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ProjectParams } from '../projects/projects.schemas.ts';
import { HISTORY_PAGE_SIZE, HistoryQuery, toErrorBody, toUploadBody, UploadBody, UploadErrorBody, UploadParams, UploadRequest } from './uploads.schemas.ts';
import { receiveUpload, sendFailedRows } from './uploads.routes.ts';

/** Uploads over the JSON API: create (multipart), status, errors, failed rows, cancel, delete. */
/** The upload named by the route, through the caller's manager access (404 otherwise). */
async function managedUpload(request: FastifyRequest) {
  const { projectId, uploadId } = request.params as { projectId: number; uploadId: number };
  const access = await request.services.projects.access(request.requireUser(), projectId, 'manager');
  return { access, upload: await request.services.uploads.get(access, uploadId) };
}

export default async function uploadsApi(fastify: FastifyInstance, opts: { maxFileBytes: number }) {
  // a member gets 403 (manager work); a project or upload they cannot see, 404
  const errors = errorResponses(401, 403, 404, 422);

  fastify.post('/projects/:projectId/uploads', {
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
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'manager');
    const upload = await receiveUpload(request, access, opts.maxFileBytes);
    return reply.code(202).header('Location', `/api/v1/projects/${projectId}/uploads/${upload.id}`).send(toUploadBody(upload));
  });

  fastify.get('/projects/:projectId/uploads', {
    schema: {
      tags: ['uploads'], operationId: 'listUploads', summary: 'Upload history, newest first', params: ProjectParams, querystring: HistoryQuery,
      response: { 200: Type.Object({ items: Type.Array(UploadBody), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }, { title: 'UploadPage' }), ...errors },
    },
  }, async (request) => {
    const { projectId } = request.params as { projectId: number };
    const { page = 1 } = request.query as { page?: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'manager');
    const history = await request.services.uploads.history(access, page, HISTORY_PAGE_SIZE);
    return { items: history.rows.map(toUploadBody), total: history.total, page, pageSize: HISTORY_PAGE_SIZE };
  });

  fastify.get('/projects/:projectId/uploads/:uploadId', {
    schema: { tags: ['uploads'], operationId: 'getUpload', summary: 'One upload: status, counters, progress', params: UploadParams, response: { 200: UploadBody, ...errors } },
  }, async (request) => {
    return toUploadBody((await managedUpload(request)).upload);
  });

  fastify.get('/projects/:projectId/uploads/:uploadId/errors', {
    schema: {
      tags: ['uploads'], operationId: 'listUploadErrors', summary: 'The kept error rows of an upload (at most 1,000)', params: UploadParams,
      response: { 200: Type.Object({ items: Type.Array(UploadErrorBody) }), ...errors },
    },
  }, async (request) => {
    const { upload } = await managedUpload(request);
    return { items: (await request.services.uploads.errors(upload)).map(toErrorBody) };
  });

  fastify.get('/projects/:projectId/uploads/:uploadId/failed-rows', {
    schema: {
      tags: ['uploads'], operationId: 'downloadUploadFailedRows', summary: 'Every rejected row, re-uploadable, with an error column (CSV) or key (JSON Lines)', params: UploadParams,
      produces: ['text/csv', 'application/x-ndjson'],
      response: { 200: Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'CSV for a CSV upload, else JSON Lines' }), ...errors },
    },
  }, async (request, reply) => {
    return sendFailedRows(request, reply, (await managedUpload(request)).upload);
  });

  fastify.post('/projects/:projectId/uploads/:uploadId/cancellation', {
    schema: {
      tags: ['uploads'], operationId: 'cancelUpload', summary: 'Cancel a queued or running upload (tasks already created stay)', params: UploadParams,
      response: { 200: UploadBody, ...errors, ...errorResponses(409) },
    },
  }, async (request) => {
    const { projectId, uploadId } = request.params as { projectId: number; uploadId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'manager');
    return toUploadBody(await request.services.uploads.cancel(access, uploadId));
  });

  fastify.delete('/projects/:projectId/uploads/:uploadId', {
    schema: {
      tags: ['uploads'], operationId: 'deleteUpload', summary: 'Delete an upload (project admins): archives its tasks without submitted or saved work', params: UploadParams,
      response: {
        200: Type.Object({ upload: UploadBody, archived: Type.Integer(), kept: Type.Integer(), archiveId: Nullable(Type.Integer()) }, { title: 'UploadDeletion' }),
        ...errors, ...errorResponses(409),
      },
    },
  }, async (request) => {
    const { projectId, uploadId } = request.params as { projectId: number; uploadId: number };
    const user = request.requireUser();
    const access = await request.services.projects.access(user, projectId, 'admin');
    const result = await request.services.uploads.delete(access, user, uploadId);
    return { ...result, upload: toUploadBody(result.upload) };
  });
}
