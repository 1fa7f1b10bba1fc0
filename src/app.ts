import { availableParallelism } from 'node:os';
import { POOL_SIZE } from './db/orm-config.ts';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import type { Config } from './config.ts';
import { HttpError } from './lib/errors.ts';
import { strictNumbersValidatorFactory } from './lib/strict-numbers.ts';
import helmet, { helmetOptions } from './plugins/external/helmet.ts';
import multipart, { multipartOptions } from './plugins/external/multipart.ts';
import session from './plugins/external/session.ts';
import statics from './plugins/external/static.ts';
import swagger from './plugins/external/swagger.ts';
import view, { viewOptions } from './plugins/external/view.ts';
import auth, { isApiPath } from './plugins/app/auth.ts';
import boss from './plugins/app/boss.ts';
import htmx from './plugins/app/htmx.ts';
import jobs from './plugins/app/jobs.ts';
import formErrors from './plugins/app/form-errors.ts';
import orm from './plugins/app/orm.ts';
import projectScope, { errorPageAccess } from './plugins/app/project-scope.ts';
import services from './plugins/app/services.ts';
import viewLocals from './plugins/app/view-locals.ts';
import { SecretsService } from './modules/system/secrets.service.ts';
import healthRoutes from './modules/system/health.routes.ts';
import authRoutes from './modules/users/auth.routes.ts';
import usersRoutes from './modules/users/users.routes.ts';
import accountRoutes from './modules/users/account.routes.ts';
import apiTokensRoutes from './modules/api-tokens/api-tokens.routes.ts';
import projectsRoutes, { projectRoutes } from './modules/projects/projects.routes.ts';
import membersRoutes from './modules/members/members.routes.ts';
import tasksRoutes from './modules/tasks/tasks.routes.ts';
import taskDetailRoutes from './modules/tasks/task-detail.routes.ts';
import answersRoutes from './modules/answers/answers.routes.ts';
import bulkRoutes from './modules/bulk/bulk.routes.ts';
import archivesRoutes from './modules/archives/archives.routes.ts';
import exportsRoutes from './modules/exports/exports.routes.ts';
import queueRoutes from './modules/queue/queue.routes.ts';
import deliveriesRoutes from './modules/deliveries/deliveries.routes.ts';
import apiRoutes from './modules/system/api.routes.ts';
import { bodyReadingError } from './modules/system/api-media-types.ts';
import uploadsRoutes from './modules/uploads/uploads.routes.ts';
import failedJobsRoutes from './modules/system/failed-jobs.routes.ts';

export interface AppOptions {
  config: Config;
  databaseUrl: string;
}

/** The Fastify server options, shared by `npm start` and the tests. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    logger: config.LOG_LEVEL === 'silent' ? false : { level: config.LOG_LEVEL },
    trustProxy: config.TRUST_PROXY,
    bodyLimit: 2 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: true, useDefaults: true, allErrors: true } },
    schemaController: { compilersFactory: { buildValidator: strictNumbersValidatorFactory() } },
  };
}

/** Builds the whole application exactly as `npm start` runs it. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(options.config));
  // fp: the app's decorators (orm, boss) stay visible on the returned instance
  await fastify.register(fp(app), options);
  return fastify;
}

/** The sidebar entry a project URL belongs to (`/projects/:id/<segment>`). */
const PROJECT_SECTIONS: Record<string, string> = {
  '': 'overview', tasks: 'tasks', answers: 'tasks', bulk: 'tasks', queue: 'queue', work: 'queue', reservations: 'reservations', uploads: 'uploads',
  issues: 'issues', delivery: 'delivery', archives: 'archives', exports: 'exports', settings: 'settings', schema: 'schema', members: 'members',
};

export default async function app(fastify: FastifyInstance, opts: AppOptions) {
  const { config } = opts;
  // set before any route plugin registers: child contexts keep the handler they were created with
  fastify.setErrorHandler(async (caught: FastifyError | HttpError, request, reply) => {
    const api = isApiPath(request.url);
    // a body the API cannot read answers in the API's own codes (invalid_json, unsupported_media_type)
    const error = (api && !(caught instanceof HttpError) && bodyReadingError(caught, request)) || caught;
    let status = error.statusCode ?? 500;
    let code = error instanceof HttpError ? error.code : 'error';
    let message = error.message;
    let details: unknown = error instanceof HttpError ? error.details : undefined;

    if ('validation' in error && error.validation) {
      status = 422;
      code = 'validation_failed';
      message = 'The request is not valid';
      details = error.validation.map((v) => ({ path: v.instancePath || (v.params as { missingProperty?: string })?.missingProperty || '', message: v.message }));
    } else if (status === 403 && String((error as FastifyError).code ?? '').startsWith('FST_CSRF')) {
      code = 'csrf';
      message = 'This form has expired. Reload the page and try again.';
    } else if (status === 413 && !(error instanceof HttpError)) {
      code = 'too_large';
      message = 'The request is too large';
    } else if (status === 429) {
      code = 'rate_limited';
    } else if (status >= 500 || status < 400) {
      request.log.error({ err: error }, 'request failed');
      status = 500;
      code = 'internal';
      message = 'Something went wrong on our side. The error has been logged.';
      details = undefined;
    } else if (!(error instanceof HttpError)) {
      code = (error as FastifyError).code?.toLowerCase() ?? 'bad_request';
    }

    if (api) return reply.code(status).send({ error: code, message, ...(details !== undefined ? { details } : {}) });
    if (status === 401 && request.method === 'GET') {
      return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`);
    }
    if (status === 401) return reply.redirect('/login', 303);
    try {
      const title = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Error';
      // an error inside a project the user can open keeps the project's layout and a way back
      // (a project outside their access stays a plain 404: its name is never shown)
      const inProject = /^\/projects\/(\d+)(?:\/([a-z-]+))?/.exec(request.url);
      const access = inProject && status < 500 ? await errorPageAccess(request, Number(inProject[1])) : null;
      if (access) {
        return await reply.render('errors/error', {
          status, message, title, access, project: access.project, section: PROJECT_SECTIONS[inProject![2] ?? ''] ?? null, projectHref: `/projects/${access.project.id}`,
        }, status);
      }
      return await reply.render('errors/error', { status, message, title, projectHref: null }, status);
    } catch (renderError) {
      request.log.error({ err: renderError }, 'error page failed to render');
      return reply.code(status).type('text/plain; charset=utf-8').send(status >= 500 ? 'Internal error' : message);
    }
  });

  fastify.setNotFoundHandler(async (request, reply) => {
    if (isApiPath(request.url)) return reply.code(404).send({ error: 'not_found', message: 'No such resource' });
    return reply.render('errors/error', { status: 404, message: 'There is nothing at this address.', title: 'Not found' }, 404);
  });

  await fastify.register(orm, { databaseUrl: opts.databaseUrl });
  await fastify.register(boss, { databaseUrl: opts.databaseUrl });
  await fastify.register(services);
  await fastify.register(jobs, { config });

  const secret = config.SESSION_SECRET ?? (await new SecretsService(fastify.orm.em.fork()).getOrCreate('session'));
  await fastify.register(helmet, helmetOptions(config.PUBLIC_URL));
  // what a signed-in user or an API client is shown is theirs: no browser or proxy keeps a copy
  fastify.addHook('onSend', async (request, reply) => {
    if ((request.user || request.isApi) && !reply.hasHeader('cache-control')) reply.header('Cache-Control', 'no-store');
  });
  await fastify.register(formbody);
  await fastify.register(multipart, multipartOptions(config.UPLOAD_MAX_BYTES));
  await fastify.register(rateLimit, { global: false });
  await fastify.register(session, { secret, secureCookies: (config.PUBLIC_URL ?? '').startsWith('https://'), maxAgeSeconds: config.SESSION_MAX_HOURS * 3600 });
  await fastify.register(view, viewOptions);
  await fastify.register(statics);
  await fastify.register(swagger, { publicUrl: config.PUBLIC_URL });
  await fastify.register(htmx);
  await fastify.register(auth, { idleMinutes: config.SESSION_IDLE_MINUTES, absoluteMinutes: config.SESSION_MAX_HOURS * 60 });
  await fastify.register(viewLocals);

  // every state-changing browser request carries the CSRF token (API calls use bearer tokens, no
  // cookies), checked before its body is validated: a forged request learns nothing but 403. A
  // multipart form sends the token as its first field, which only its route reads (csrfFromPart).
  fastify.addHook('preValidation', (request, reply, done) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(request.method) || request.isApi) return done();
    if (request.routeOptions.config.csrfFromPart && request.isMultipart() && !request.headers['x-csrf-token']) return done();
    fastify.csrfProtection(request, reply, done);
  });

  await fastify.register(healthRoutes);
  // the pages (their forms' errors take one path); those of one project inside the project scope,
  // which loads the user's access once
  await fastify.register(async function pages(pages) {
    await pages.register(formErrors);
    await pages.register(authRoutes, { loginRateLimit: config.LOGIN_RATE_LIMIT });
    await pages.register(usersRoutes, { publicUrl: config.PUBLIC_URL });
    await pages.register(failedJobsRoutes);
    await pages.register(accountRoutes, { passwordRateLimit: config.LOGIN_RATE_LIMIT });
    await pages.register(apiTokensRoutes);
    await pages.register(projectsRoutes);
    await pages.register(async function projectPages(project) {
      await project.register(projectScope);
      await project.register(projectRoutes);
      await project.register(membersRoutes);
      await project.register(tasksRoutes);
      await project.register(taskDetailRoutes);
      await project.register(answersRoutes);
      await project.register(bulkRoutes);
      await project.register(archivesRoutes);
      await project.register(exportsRoutes);
      await project.register(queueRoutes);
      await project.register(deliveriesRoutes);
      await project.register(uploadsRoutes, { maxFileBytes: config.UPLOAD_MAX_BYTES });
    }, { prefix: '/projects/:projectId' });
  });
  await fastify.register(apiRoutes, { prefix: '/api/v1', maxUploadBytes: config.UPLOAD_MAX_BYTES, publicUrl: config.PUBLIC_URL, concurrency: config.API_CONCURRENCY ?? defaultApiConcurrency() });
}

/**
 * One API request at a time per core, and never so many that the pool has no connection left for
 * pages and jobs (a bulk job's two lanes, an upload, an export).
 */
function defaultApiConcurrency(): number {
  return Math.max(1, Math.min(availableParallelism(), POOL_SIZE - 4));
}
