import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unprocessable } from '../../lib/errors.ts';
import type { FieldErrors } from '../../lib/form.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectParams, UploadParams } from '../../lib/params.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { FormBody } from '../../lib/form.ts';
import { asMultipartError, HISTORY_PAGE_SIZE, HistoryQuery, parseUploadOptions, progressOf, UploadParts } from './uploads.schemas.ts';
import { bytes } from '../../lib/format.ts';
import { RUNNING_STATUSES } from './uploads.service.ts';
import type { UploadRow } from './uploads.repository.ts';

/** Errors shown in a history row when expanded; the upload's own page lists up to 1,000. */
const ROW_ERRORS = 20;

/** Receives the multipart file of a page form or an API call and queues its processing. */
export async function receiveUpload(request: FastifyRequest, access: ProjectAccess, maxBytes: number): Promise<UploadRow> {
  if (!request.isMultipart()) {
    throw unprocessable('Send the file as multipart/form-data in a field named "file".', { file: 'Choose a file to upload' });
  }
  const parts = request.uploadParts ?? new UploadParts(request);
  const file = await parts.nextFile();
  if (!file) throw unprocessable('Choose a file to upload.', { file: 'Choose a file to upload' });
  const options = () => {
    const result = parseUploadOptions(parts.fields);
    if (!result.ok) throw unprocessable('The upload options are not valid.', result.errors);
    return result.value;
  };
  try {
    options();
  } catch (err) {
    file.file.resume();
    throw err;
  }
  try {
    return await request.services.uploads.receive(
      access, request.requireUser(), { fileName: file.filename, contentType: file.mimetype, stream: file.file },
      options, request.server.boss, maxBytes, () => parts.rest(),
    );
  } catch (err) {
    // the file stream itself failed: the body was cut off or malformed
    throw err === file.file.errored ? asMultipartError(err) : err;
  }
}

/** Streams the failed rows of an upload as a download. */
export function sendFailedRows(request: FastifyRequest, reply: FastifyReply, upload: UploadRow) {
  const csv = upload.format === 'csv' || upload.format === null;
  const name = `upload-${upload.id}-failed-rows.${csv ? 'csv' : 'jsonl'}`;
  return reply
    .header('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
    .header('Content-Disposition', `attachment; filename="${name}"`)
    .header('X-Content-Type-Options', 'nosniff')
    .send(Readable.from(request.services.uploads.failedRows(upload)));
}

const uploadsRoutes: FastifyPluginAsyncTypebox<{ maxFileBytes: number }> = async (fastify, opts) => {
  const config = { role: 'manager' } as const;

  const rowData = (access: ProjectAccess, upload: UploadRow, errors: unknown[], interrupted: Set<number>) => ({
    access, project: access.project, upload, errors, progress: progressOf(upload),
    running: (RUNNING_STATUSES as readonly string[]).includes(upload.status), interrupted: interrupted.has(upload.id), rowErrors: ROW_ERRORS,
  });

  async function renderPage(request: FastifyRequest<{ Querystring: { page?: number } }>, reply: FastifyReply, access: ProjectAccess, form: { errors?: FieldErrors; message?: string; values?: Record<string, string> } = {}, status = 200) {
    const page = request.query.page ?? 1;
    const history = await request.services.uploads.history(access, page, HISTORY_PAGE_SIZE);
    const finishedWithErrors = history.rows.filter((u) => u.errorCount > 0 && !(RUNNING_STATUSES as readonly string[]).includes(u.status));
    const errorsById = await request.services.uploads.errorsOf(finishedWithErrors, ROW_ERRORS);
    const interrupted = await request.services.uploads.interrupted(history.rows);
    return reply.render('uploads/index', {
      title: `Upload · ${access.project.name}`, access, project: access.project, section: 'uploads',
      history, rowData: (u: UploadRow) => rowData(access, u, errorsById.get(u.id) ?? [], interrupted),
      maxBytes: bytes(opts.maxFileBytes), errors: form.errors ?? {}, formMessage: form.message, values: form.values ?? {},
    }, status);
  }

  fastify.get('/uploads', { config, schema: { params: ProjectParams, querystring: HistoryQuery } }, async (request, reply) => {
    return renderPage(request, reply, request.access);
  });

  const UploadSchema = { params: ProjectParams, querystring: HistoryQuery };
  // a file or options that cannot be taken: the form again, with the options as they were sent
  const uploadErrors = formErrors(UploadSchema, {
    statuses: [413, 422],
    render: (request, reply, err) => renderPage(request, reply, request.access, {
      errors: (err.details as FieldErrors | undefined) ?? { file: err.message }, message: err.message, values: request.uploadParts?.fields ?? {},
    }, err.statusCode),
  });
  const backToUploads = formErrors({ params: UploadParams }, { statuses: [409], back: (request) => `/projects/${request.params.projectId}/uploads` });

  fastify.post('/uploads', {
    schema: UploadSchema,
    // a form without JavaScript sends its CSRF token as the first multipart field
    config: { ...config, csrfFromPart: true, formErrors: uploadErrors },
    preValidation: (request, reply, done) => {
      if (!request.isMultipart() || request.headers['x-csrf-token']) return done();
      const parts = new UploadParts(request);
      request.uploadParts = parts;
      parts.peekCsrf().then((token) => {
        request.body = { _csrf: token };
        fastify.csrfProtection(request, reply, done); // answers 403 itself
      }, done);
    },
  }, async (request, reply) => {
    const upload = await receiveUpload(request, request.access, opts.maxFileBytes);
    reply.flash('success', `Upload ${upload.id} (${upload.fileName}, ${bytes(upload.sizeBytes)}) received: its rows are being processed.`);
    return reply.redirect(`/projects/${request.params.projectId}/uploads`, 303);
  });

  /** The upload's own page; its history row (a self-polling fragment) for htmx. */
  fastify.get('/uploads/:uploadId', { config, schema: { params: UploadParams } }, async (request, reply) => {
    const { access } = request;
    const upload = await request.services.uploads.get(access, request.params.uploadId);
    const interrupted = await request.services.uploads.interrupted([upload]);
    if (request.wantsFragment(`upload-${upload.id}`)) {
      const errors = upload.errorCount > 0 ? await request.services.uploads.errors(upload, ROW_ERRORS) : [];
      return reply.render('uploads/_row', rowData(access, upload, errors, interrupted));
    }
    const errors = await request.services.uploads.errors(upload);
    return reply.render('uploads/show', {
      title: `Upload ${upload.id} · ${access.project.name}`, section: 'uploads', ...rowData(access, upload, errors, interrupted),
    });
  });

  fastify.get('/uploads/:uploadId/failed-rows', { config, schema: { params: UploadParams } }, async (request, reply) => {
    return sendFailedRows(request, reply, await request.services.uploads.get(request.access, request.params.uploadId));
  });

  fastify.post('/uploads/:uploadId/cancellation', { config: { ...config, formErrors: backToUploads }, schema: { params: UploadParams, body: FormBody } }, async (request, reply) => {
    const { projectId, uploadId } = request.params;
    const upload = await request.services.uploads.cancel(request.access, uploadId);
    reply.flash('success', upload.status === 'cancelled' ? `Upload ${upload.id} cancelled.` : `Upload ${upload.id} stops after its current batch.`);
    return reply.redirect(`/projects/${projectId}/uploads`, 303);
  });

  fastify.post('/uploads/:uploadId/deletion', { config: { role: 'admin', formErrors: backToUploads }, schema: { params: UploadParams, body: FormBody } }, async (request, reply) => {
    const { projectId, uploadId } = request.params;
    const result = await request.services.uploads.delete(request.access, request.requireUser(), uploadId);
    reply.flash('success', `Upload ${result.upload.id} deleted: ${result.upload.deleteReport}`);
    return reply.redirect(`/projects/${projectId}/uploads`, 303);
  });
};

export default uploadsRoutes;
