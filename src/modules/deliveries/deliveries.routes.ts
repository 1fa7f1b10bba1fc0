import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../../lib/errors.ts';
import { FormBody } from '../../lib/form.ts';
import { ProjectParams } from '../../lib/params.ts';

/** The Delivery page: webhook settings (project admins) and the latest attempts. */
const deliveriesRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const page = async (request: FastifyRequest) => {
    const { access } = request;
    const d = request.services.deliveries;
    return { access, project: access.project, section: 'delivery', title: `Delivery · ${access.project.name}`,
      secret: await d.secret(access), attempts: await d.recentAttempts(access), delivering: await d.deliveringCount(access) };
  };

  fastify.get('/delivery', { config: { role: 'manager' }, schema: { params: ProjectParams } }, async (request, reply) => {
    const data = await page(request);
    return reply.render('deliveries/show', { ...data, values: { url: data.project.webhookUrl ?? '', allowedHosts: (data.project.webhookAllowedHosts ?? []).join('\n') } });
  });

  fastify.post('/delivery', { config: { role: 'admin' }, schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const { access, body } = request;
    const values = { url: typeof body.url === 'string' ? body.url : '', allowedHosts: typeof body.allowedHosts === 'string' ? body.allowedHosts : '' };
    try {
      await request.services.deliveries.updateWebhook(access, request.requireUser(), { ...values, regenerateSecret: body.regenerate === 'on' });
    } catch (err) {
      if (!(err instanceof HttpError) || err.statusCode !== 422) throw err;
      return reply.render('deliveries/show', { ...(await page(request)), values, errors: err.details ?? {}, error: err.message }, 422);
    }
    reply.flash('success', values.url.trim() ? 'Webhook saved.' : 'Webhook turned off: completed tasks wait for the API feed.');
    return reply.redirect(`/projects/${access.project.id}/delivery`, 303);
  });
};

export default deliveriesRoutes;
