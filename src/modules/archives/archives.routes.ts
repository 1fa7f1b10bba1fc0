import { PageQuery } from '../../lib/pagination.ts';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../../plugins/app/services.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { Type } from 'typebox';
import { FormBody } from '../../lib/form.ts';
import { ProjectParams } from '../projects/projects.schemas.ts';
import { ARCHIVE_DOWNLOAD_FORMATS, type ArchiveDownloadFormat } from './archives.service.ts';

const ArchiveParams = Type.Object({ projectId: Type.Integer({ minimum: 1 }), archiveId: Type.Integer({ minimum: 1 }) });
const DownloadQuery = Type.Object({ format: Type.Optional(Type.String({ enum: [...ARCHIVE_DOWNLOAD_FORMATS], default: 'csv' })) });

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
export default async function archivesRoutes(fastify: FastifyInstance) {
  fastify.get('/projects/:projectId/archives', { schema: { params: ProjectParams, querystring: PageQuery } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId } = request.params as { projectId: number };
    const { page } = request.query as { page: number };
    const access = await request.services.projects.access(user, projectId, 'manager');
    const archives = await request.services.archives.list(access, page);
    return reply.render('archives/index', { title: 'Archive', access, project: access.project, section: 'archives', archives });
  });

  fastify.get('/projects/:projectId/archives/:archiveId/download', { schema: { params: ArchiveParams, querystring: DownloadQuery } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId, archiveId } = request.params as { projectId: number; archiveId: number };
    const access = await request.services.projects.access(user, projectId, 'manager');
    return sendArchiveFile(reply, request.services, access, archiveId, (request.query as { format: ArchiveDownloadFormat }).format);
  });

  fastify.post('/projects/:projectId/archives/:archiveId/restoration', { schema: { params: ArchiveParams, body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId, archiveId } = request.params as { projectId: number; archiveId: number };
    const access = await request.services.projects.access(user, projectId, 'manager');
    const { restored, clashes } = await request.services.archives.restore(access, user, archiveId);
    const tasks = (n: number) => `${n.toLocaleString('en-US')} ${n === 1 ? 'task' : 'tasks'}`;
    if (clashes) {
      reply.flash('error', `Archive #${archiveId}: ${tasks(restored)} restored; ${tasks(clashes)} not restored because a live task has the same name (uploaded again since). Archive or rename those, then restore again.`);
    } else {
      reply.flash('success', `Archive #${archiveId}: ${tasks(restored)} restored.`);
    }
    return reply.redirect(`/projects/${projectId}/archives`, 303);
  });
}
