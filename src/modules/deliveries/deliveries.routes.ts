import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from '../../lib/errors.ts';
import { FormBody } from '../../lib/form.ts';
import { ProjectParams } from '../projects/projects.schemas.ts';

/** The Delivery page: webhook settings (project admins) and the latest attempts. */
export default async function deliveriesRoutes(fastify: FastifyInstance) {
  const page = async (request: FastifyRequest) => {
    const user = request.requireUser();
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(user, projectId, 'manager');
    const d = request.services.deliveries;
    return { access, project: access.project, section: 'delivery', title: `Delivery · ${access.project.name}`,
      secret: await d.secret(access), attempts: await d.recentAttempts(access), delivering: await d.deliveringCount(access) };
  };

  fastify.get('/projects/:projectId/delivery', { schema: { params: ProjectParams } }, async (request, reply) => {
    const data = await page(request);
    return reply.render('deliveries/show', { ...data, values: { url: data.project.webhookUrl ?? '', allowedHosts: (data.project.webhookAllowedHosts ?? []).join('\n') } });
  });

  fastify.post('/projects/:projectId/delivery', { schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(user, projectId, 'admin');
    const body = request.body as Record<string, unknown>;
    const values = { url: typeof body.url === 'string' ? body.url : '', allowedHosts: typeof body.allowedHosts === 'string' ? body.allowedHosts : '' };
    try {
      await request.services.deliveries.updateWebhook(access, request.requireUser(), { ...values, regenerateSecret: body.regenerate === 'on' });
    } catch (err) {
      if (!(err instanceof HttpError) || err.statusCode !== 422) throw err;
      return reply.render('deliveries/show', { ...(await page(request)), values, errors: err.details ?? {}, error: err.message }, 422);
    }
    reply.flash('success', values.url.trim() ? 'Webhook saved.' : 'Webhook turned off: completed tasks wait for the API feed.');
    return reply.redirect(`/projects/${projectId}/delivery`, 303);
  });
}
