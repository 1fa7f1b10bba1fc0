import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import pg from 'pg';
import request from 'supertest';
import appPlugin, { serverOptions } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { cloneTemplateDatabase } from './database.ts';
import { createServices } from '../../src/plugins/app/services.ts';
import { OpenApiResponseCheck } from './openapi-responses.ts';

export interface TestApp {
  app: FastifyInstance;
  databaseUrl: string;
  /** Every route the app registered (HEAD left out), for tests that walk them all. */
  routes: { method: string; url: string; schema?: RouteOptions['schema'] }[];
  /** Services on a fresh EntityManager, for arranging data directly. */
  services(): ReturnType<typeof createServices>;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** The /api/v1 responses so far that differed from the OpenAPI document (close() fails on them). */
  documentMismatches: string[];
  /** Closes the app; fails when an /api/v1 response differed from the OpenAPI document. */
  close(): Promise<void>;
}

/** A database of its own (cloned from the migrated template) and the app built as `npm start` builds it. */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const databaseUrl = await cloneTemplateDatabase('test');
  const config: Config = loadConfig({ LOG_LEVEL: 'silent', SESSION_SECRET: 'test-secret-test-secret-test-secret-42', LOGIN_RATE_LIMIT: '1000', ...env });
  // built as buildApp() builds it, with the routes recorded on the way
  const app = Fastify(serverOptions(config));
  const routes: TestApp['routes'] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url, schema: route.schema });
  });
  // every /api/v1 response a test receives is checked against the document (the document cannot drift)
  const documentCheck = new OpenApiResponseCheck(app);
  documentCheck.install();
  await app.register(fp(appPlugin), { config, databaseUrl });
  await app.ready();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  return {
    app,
    databaseUrl,
    routes,
    services: () => createServices(app.orm.em.fork(), app.boss),
    sql: async (text, params) => (await pool.query(text, params as unknown[])).rows,
    documentMismatches: documentCheck.mismatches,
    close: async () => {
      await pool.end();
      await app.close();
      if (documentCheck.mismatches.length) {
        throw new Error(`${documentCheck.mismatches.length} API response(s) differ from the OpenAPI document:\n${[...new Set(documentCheck.mismatches)].join('\n')}`);
      }
    },
  };
}

/** The CSRF token of a page (from its hidden `_csrf` field). */
export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1];
}

export type Agent = ReturnType<typeof request.agent>;

/** A browser-like client: keeps cookies, reads CSRF tokens from pages. */
export function agent(app: FastifyInstance): Agent {
  return request.agent(app.server);
}

/** GETs `pagePath` for a CSRF token, then submits the form to `action`. */
export async function submitForm(client: Agent, pagePath: string, action: string, fields: Record<string, string | string[]>) {
  const page = await client.get(pagePath);
  const token = csrfFrom(page.text);
  return client.post(action).type('form').send({ ...fields, _csrf: token });
}

export async function createAdmin(t: TestApp, email = 'admin@example.org', password = 'correct horse battery') {
  return (await t.services().users.createFirstAdmin({ email, name: 'Ada Admin', password })) ;
}

export async function createUser(t: TestApp, email: string, password = 'correct horse battery', isAdmin = false) {
  return (await t.services().users.create({ email, name: email.split('@')[0], password, isAdmin })).user;
}

export async function loggedIn(t: TestApp, email: string, password = 'correct horse battery'): Promise<Agent> {
  const client = agent(t.app);
  const res = await submitForm(client, '/login', '/login', { email, password });
  if (res.status !== 303) throw new Error(`login failed for ${email}: ${res.status}`);
  return client;
}
