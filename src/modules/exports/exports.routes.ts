import { PageQuery } from '../../lib/pagination.ts';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { conflict } from '../../lib/errors.ts';
import { FormBody } from '../../lib/form.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ExportParams, ProjectParams } from '../../lib/params.ts';
import type { Services } from '../../plugins/app/services.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { selectionFromForm, taskListUrl } from '../selection/task-selection.ts';
import { EXPORT_TYPES } from './exports.service.ts';

const LIST_TARGET = 'export-list';

/** The flash shown on the Exports page after an export was started (from any form). */
export const exportStartedMessage = (id: number) => `Export #${id} started. It appears below and can be downloaded when it completes.`;

/** Streams a completed export's file as an attachment (shared by the page and the API). */
export async function sendExportFile(reply: FastifyReply, services: Services, access: ProjectAccess, exportId: number) {
  const row = await services.exports.get(access, exportId);
  if (row.status !== 'completed') throw conflict(row.status === 'expired' ? 'This export has expired; export again' : 'This export is not finished yet');
  return reply
    .type(EXPORT_TYPES[row.format])
    .header('Content-Disposition', `attachment; filename="${access.project.slug}-export-${row.id}.${row.format}"`)
    .header('Content-Length', String(row.sizeBytes))
    .send(await services.exports.file(row.id));
}

/** The Exports page (a live list) and starting an export from the task list. Admins and managers only. */
const exportsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'manager' } as const;

  fastify.get('/exports', { config, schema: { params: ProjectParams, querystring: PageQuery } }, async (request, reply) => {
    const { access } = request;
    const { projectId } = request.params;
    const page = request.query.page ?? 1;
    const exports = await request.services.exports.list(access, page);
    const running = exports.rows.some((r) => r.status === 'queued' || r.status === 'running');
    const interrupted = await request.services.exports.interrupted(exports.rows);
    const data = { title: 'Exports', access, project: access.project, section: 'exports', exports, running, interrupted, url: `/projects/${projectId}/exports?page=${page}` };
    if (request.wantsFragment(LIST_TARGET)) return reply.render('exports/_list', data);
    return reply.render('exports/index', data);
  });

  const StartSchema = { params: ProjectParams, body: FormBody };
  // a mistake in the task list's export form is said back on the task list
  const startErrors = formErrors(StartSchema, { statuses: 'any', back: (request) => taskListUrl(request.params.projectId, request.body) });

  fastify.post('/exports', { config: { ...config, formErrors: startErrors }, schema: StartSchema }, async (request, reply) => {
    const { access, body } = request;
    const started = await request.services.exports.start(access, request.requireUser(), String(body.format ?? ''), selectionFromForm(body));
    reply.flash('success', exportStartedMessage(started.id));
    return reply.redirect(`/projects/${access.project.id}/exports`, 303);
  });

  fastify.get('/exports/:exportId/download', { config, schema: { params: ExportParams } }, async (request, reply) => {
    return sendExportFile(reply, request.services, request.access, request.params.exportId);
  });
};

export default exportsRoutes;
