import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { FormBody } from '../../lib/form.ts';
import { ProjectParams } from '../../lib/params.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';

declare module '@fastify/secure-session' {
  interface SessionData {
    /** a signing secret just made, kept (encrypted, in the cookie) until the Delivery page shows it once */
    newWebhookSecret?: { projectId: number; secret: string };
  }
}

/** The Delivery page: webhook settings (project admins) and the latest attempts. */
const deliveriesRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const page = async (request: FastifyRequest) => {
    const { access } = request;
    const d = request.services.deliveries;
    return { access, project: access.project, section: 'delivery', title: `Delivery · ${access.project.name}`,
      hasSecret: await d.hasSecret(access), attempts: await d.recentAttempts(access), delivering: await d.deliveringCount(access) };
  };

  fastify.get('/delivery', { config: { role: 'manager' }, schema: { params: ProjectParams } }, async (request, reply) => {
    const data = await page(request);
    // a new signing secret is shown once, on the page the save leads to (as the API shows it once)
    const newSecret = request.session.get('newWebhookSecret');
    if (newSecret) request.session.set('newWebhookSecret', undefined);
    return reply.render('deliveries/show', {
      ...data, newSecret: newSecret?.projectId === data.project.id ? newSecret.secret : null,
      values: { url: data.project.webhookUrl ?? '', allowedHosts: (data.project.webhookAllowedHosts ?? []).join('\n') },
    });
  });

  const WebhookSchema = { params: ProjectParams, body: FormBody };
  const webhookValues = (body: Record<string, unknown>) => ({
    url: typeof body.url === 'string' ? body.url : '', allowedHosts: typeof body.allowedHosts === 'string' ? body.allowedHosts : '',
  });
  const webhookErrors = formErrors(WebhookSchema, {
    render: async (request, reply, err) =>
      reply.render('deliveries/show', { ...(await page(request)), values: webhookValues(request.body), errors: err.details ?? {}, error: err.message }, 422),
  });

  fastify.post('/delivery', { config: { role: 'admin', formErrors: webhookErrors }, schema: WebhookSchema }, async (request, reply) => {
    const { access, body } = request;
    const values = webhookValues(body);
    const { newSecret } = await request.services.deliveries.updateWebhook(access, request.requireUser(), { ...values, regenerateSecret: body.regenerate === 'on' });
    if (newSecret) request.session.set('newWebhookSecret', { projectId: access.project.id, secret: newSecret });
    reply.flash('success', values.url.trim() ? 'Webhook saved.' : 'Webhook turned off: completed tasks wait for the API feed.');
    return reply.redirect(`/projects/${access.project.id}/delivery`, 303);
  });
};

export default deliveriesRoutes;
