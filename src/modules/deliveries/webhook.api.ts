import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { conflict } from '../../lib/errors.ts';
import type { IProject } from '../projects/project.entity.ts';
import { ProjectParams } from '../../lib/params.ts';
import { ErrorResponse } from '../system/api.schemas.ts';

/** Every route here is for project admins: the project scope refuses everyone else. */
const ADMIN = { role: 'admin' as const };
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };
const Webhook = Type.Object({
  url: Type.Union([Type.String(), Type.Null()], { description: 'Where completed tasks are POSTed; null = off (tasks wait for the API feed)' }),
  allowedHosts: Type.Array(Type.String(), { description: 'The only hosts ever called (a private or loopback address only when listed itself)' }),
  hasSecret: Type.Boolean({ description: 'Whether a signing secret exists (it is shown only when made: on the first URL and on rotation)' }),
}, { title: 'Webhook' });
const Secret = Type.String({ description: 'The signing secret (HMAC-SHA256 key of `X-Tasklane-Signature`), shown this once' });

const toWebhook = (project: IProject, hasSecret: boolean) => ({ url: project.webhookUrl ?? null, allowedHosts: project.webhookAllowedHosts ?? [], hasSecret });

/** The project's webhook in the JSON API (project admins), with the Delivery page's rules. */
const webhookApi: FastifyPluginAsyncTypebox = async (fastify) => {

  fastify.get('/webhook', {
    config: ADMIN,
    schema: {
      operationId: 'getWebhook', tags: ['delivery'], summary: 'The webhook settings (project admins); the secret is not shown again',
      params: ProjectParams, response: { 200: Webhook, ...errors },
    },
  }, async (request) => {
    const access = request.access;
    return toWebhook(access.project, await request.services.deliveries.hasSecret(access));
  });

  fastify.patch('/webhook', {
    config: ADMIN,
    schema: {
      operationId: 'updateWebhook', tags: ['delivery'], summary: 'Set the webhook URL and allow-list; fields left out keep their value',
      description: 'The URL’s host must be on the allow-list. A new private or loopback entry needs an instance admin. Setting the first URL makes the signing secret, returned here once as `secret` (else `secret` is null).',
      params: ProjectParams,
      body: Type.Object({
        url: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'An http(s) URL of at most 2,000 characters; null turns the webhook off' })),
        allowedHosts: Type.Optional(Type.Array(Type.String({ maxLength: 253 }), { maxItems: 100, description: 'Host names or IP addresses' })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ ...Webhook.properties, secret: Type.Union([Secret, Type.Null()]) }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    const access = request.access;
    const project = access.project;
    const { newSecret } = await request.services.deliveries.updateWebhook(access, user, {
      url: request.body.url === undefined ? project.webhookUrl ?? '' : request.body.url ?? '',
      allowedHosts: request.body.allowedHosts ?? project.webhookAllowedHosts ?? [],
    });
    return { ...toWebhook(project, await request.services.deliveries.hasSecret(access)), secret: newSecret };
  });

  fastify.post('/webhook/secret-rotation', {
    config: ADMIN,
    schema: {
      operationId: 'rotateWebhookSecret', tags: ['delivery'], summary: 'Make a new signing secret (the old one stops working at once); shown this once',
      params: ProjectParams,
      response: { 200: Type.Object({ secret: Secret }), ...errors, 409: ErrorResponse },
    },
  }, async (request) => {
    const user = request.requireUser();
    const access = request.access;
    const project = access.project;
    // the same save as the page's "Generate a new secret" box: it makes one only for a set URL
    const { newSecret } = await request.services.deliveries.updateWebhook(access, user, {
      url: project.webhookUrl ?? '', allowedHosts: project.webhookAllowedHosts ?? [], regenerateSecret: true,
    });
    if (!newSecret) throw conflict('Set a webhook URL first: the secret signs its calls');
    return { secret: newSecret };
  });
};

export default webhookApi;
