import { PageQuery } from '../../lib/pagination.ts';
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../plugins/app/services.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { Type } from 'typebox';
import { FormBody } from '../../lib/form.ts';
import { ArchiveParams, ProjectParams } from '../../lib/params.ts';
import { ARCHIVE_DOWNLOAD_FORMATS, type ArchiveDownloadFormat } from './archives.service.ts';

/** `?format=` of an archive download (the page's and the API's) */
export const ArchiveDownloadQuery = Type.Object({
  format: Type.Optional(Type.Unsafe<ArchiveDownloadFormat>(Type.String({ enum: [...ARCHIVE_DOWNLOAD_FORMATS], default: 'csv' }))),
});

/** Streams an archive's tasks in the upload format as an attachment (shared by the page and the API). */
export async function sendArchiveFile(reply: FastifyReply, services: Services, access: ProjectAccess, archiveId: number, format: ArchiveDownloadFormat) {
  await services.archives.get(access, archiveId); // 404 before any byte is sent
  return reply
    .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8')
    .header('Content-Disposition', `attachment; filename="${access.project.slug}-archive-${archiveId}.${format}"`)
    .header('X-Content-Type-Options', 'nosniff')
    .send(Readable.from(services.archives.download(access, archiveId, format)));
}

/** The Archive page: history, download in the upload format, restore. Admins and managers only. */
const archivesRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'manager' } as const;

  fastify.get('/archives', { config, schema: { params: ProjectParams, querystring: PageQuery } }, async (request, reply) => {
    const { access } = request;
    const archives = await request.services.archives.list(access, request.query.page ?? 1);
    return reply.render('archives/index', { title: 'Archive', access, project: access.project, section: 'archives', archives });
  });

  fastify.get('/archives/:archiveId/download', { config, schema: { params: ArchiveParams, querystring: ArchiveDownloadQuery } }, async (request, reply) => {
    return sendArchiveFile(reply, request.services, request.access, request.params.archiveId, request.query.format ?? 'csv');
  });

  fastify.post('/archives/:archiveId/restoration', { config, schema: { params: ArchiveParams, body: FormBody } }, async (request, reply) => {
    const { access } = request;
    const { archiveId } = request.params;
    const { restored, clashes } = await request.services.archives.restore(access, request.requireUser(), archiveId);
    const tasks = (n: number) => `${n.toLocaleString('en-US')} ${n === 1 ? 'task' : 'tasks'}`;
    if (clashes) {
      reply.flash('error', `Archive #${archiveId}: ${tasks(restored)} restored; ${tasks(clashes)} not restored because a live task has the same name (uploaded again since). Archive or rename those, then restore again.`);
    } else {
      reply.flash('success', `Archive #${archiveId}: ${tasks(restored)} restored.`);
    }
    return reply.redirect(`/projects/${access.project.id}/archives`, 303);
  });
};

export default archivesRoutes;
