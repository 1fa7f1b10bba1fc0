import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { isDeepStrictEqual } from 'node:util';
import type { TSchema } from 'typebox';
import { BODY_ERRORS } from '../../modules/system/api.schemas.ts';

const TAGS = [
  { name: 'account', description: 'The user of the token' },
  { name: 'projects', description: 'Projects, their stages and statistics' },
  { name: 'uploads', description: 'Task files (CSV, JSON, JSONL, RedBrick items) processed in the background' },
  { name: 'tasks', description: 'Listing tasks, their history, and bulk edits' },
  { name: 'answers', description: 'Answer sets of a task, and their comparison' },
  { name: 'queue', description: 'Work: request tasks, save, submit, finalize, review, skip, issues' },
  { name: 'reservations', description: 'Who holds which open work, and releasing it' },
  { name: 'delivery', description: 'The feed of completed tasks (at least once), receipts and the client’s answers' },
  { name: 'exports', description: 'Exports as CSV, JSON or JSONL' },
  { name: 'archives', description: 'Archiving tasks, archive downloads and restores' },
];

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 40" width="300" height="40">
  <rect x="0" y="8" width="24" height="24" rx="5" fill="#3b5bdb"/><path d="M6 14h12v3H6zm0 5h12v3H6zm0 5h7v3H6z" fill="#fff"/>
  <text x="34" y="27" font-family="system-ui, sans-serif" font-size="17" font-weight="700" fill="#1f2937">Tasklane</text>
  <text x="132" y="27" font-family="system-ui, sans-serif" font-size="14" fill="#6b7280">← back to the app</text></svg>`;
const THEME_CSS = `.swagger-ui .topbar { background: #fff; border-bottom: 1px solid #e3e6eb; padding: 6px 0; }
.swagger-ui .topbar .download-url-wrapper { display: none; }
.swagger-ui .topbar a { max-width: none; }`;

// Swagger UI puts the logo's href on the image, not on its link: the link gets it here
const THEME_JS = `new MutationObserver((_, observer) => {
  const link = document.querySelector('#swagger-ui .topbar .topbar-wrapper > a.link');
  if (!link) return;
  link.href = '/projects';
  link.setAttribute('aria-label', 'Back to Tasklane');
  observer.disconnect();
}).observe(document.documentElement, { childList: true, subtree: true });`;

/** The descriptions of the responses a route does not describe itself. */
const STATUS_DESCRIPTIONS: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted: the work runs in the background',
  400: 'The request cannot be read (e.g. a body that is not valid JSON)',
  401: 'No valid API token',
  403: 'Your role in the project does not allow this',
  404: 'No such resource, or not visible to you',
  409: 'The resource is not in a state that allows this',
  413: 'The request body or file is too large',
  415: 'The body is not in a media type this route reads',
  422: 'The request is not valid (see `details`)',
  429: 'Too many requests: wait and retry',
};

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** A `title` that names a component: PascalCase, on an object (or an intersection of objects) or an enum. */
const COMPONENT_NAME = /^[A-Z][A-Za-z0-9]*$/;
/** Keywords whose values are data, not schemas. */
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'example', 'examples']);

type Json = Record<string, unknown>;

/**
 * Publishes every schema titled with a component name once, in `components.schemas`, and
 * references it by `$ref` wherever it appears (nested ones first). Two different schemas under
 * one name are a programming error.
 */
export function hoistNamedSchemas(doc: Json): Json {
  const components = ((doc.components as Json).schemas ??= {}) as Json;
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!node || typeof node !== 'object') return node;
    const schema = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, DATA_KEYWORDS.has(k) ? v : visit(v)])) as Json;
    const name = schema.title;
    if (typeof name !== 'string' || !COMPONENT_NAME.test(name) || (schema.type !== 'object' && !Array.isArray(schema.enum) && !Array.isArray(schema.allOf))) return schema;
    if (name in components && !isDeepStrictEqual(components[name], schema)) throw new Error(`Two different API schemas are titled ${name}`);
    components[name] = schema;
    return { $ref: `#/components/schemas/${name}` };
  };
  doc.paths = visit(doc.paths);
  for (const [name, schema] of Object.entries(components)) {
    const hoisted = visit(schema) as Json;
    // a component that is itself named stays a schema, not a reference to itself
    if (hoisted.$ref !== `#/components/schemas/${name}`) components[name] = hoisted;
  }
  for (const item of Object.values(doc.paths as Record<string, Record<string, { responses?: Record<string, { description: string; content?: Json }> }>>)) {
    for (const operation of Object.values(item)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response.description === 'Default Response' && STATUS_DESCRIPTIONS[status]) response.description = STATUS_DESCRIPTIONS[status];
        // a download route `produces` its file types; its errors are JSON all the same
        if (Number(status) >= 400 && response.content) response.content = { 'application/json': Object.values(response.content)[0] };
      }
    }
  }
  return doc;
}

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The multipart/form-data fields of a route that reads its parts itself: the document's
     * request body. Fastify never validates it (the body is a stream).
     */
    multipartBody?: TSchema;
  }
}

/** The OpenAPI 3.1 document is generated from the TypeBox schemas that validate the API routes. */
export default fp(
  async function openapi(fastify, opts: { publicUrl?: string }) {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Tasklane API',
          version: '1',
          description: 'Task management for data-annotation teams. Authenticate with `Authorization: Bearer <token>` (create tokens under Account → API tokens). '
            + 'Paths start with `/api/v1`: a generated client takes the server (e.g. `https://tasklane.example.org`) as its base URL. '
            + 'Every error answers `{ error, message, details? }`.',
        },
        // paths keep their /api/v1 prefix: the server is the site itself
        servers: [{ url: opts.publicUrl?.replace(/\/+$/, '') || '/', description: 'This Tasklane server' }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
        tags: TAGS,
      },
      stripBasePath: false,
      hideUntagged: true,
      transform: ({ schema, url, route }) => ({
        url,
        schema: {
          ...schema,
          ...(schema?.multipartBody ? { body: schema.multipartBody, consumes: ['multipart/form-data'] } : {}),
          // the API reads (or refuses) a body on each of these, before the route runs (api-media-types.ts)
          ...(BODY_METHODS.has(String(route.method)) ? { response: { ...BODY_ERRORS, ...schema?.response as object } } : {}),
        },
      }),
      transformObject: (document) => hoistNamedSchemas((document as { openapiObject: Json }).openapiObject),
    });
    await fastify.register(swaggerUi, {
      routePrefix: '/api/docs',
      staticCSP: true,
      // on-prem installs often run plain HTTP: never force https sub-requests; Swagger UI sets
      // style attributes at run time, so styles (never scripts) may be inline on this page
      transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '').replace(/style-src ([^;]*)/, "style-src $1 'unsafe-inline'"),
      uiConfig: { docExpansion: 'list', validatorUrl: null },
      // Tasklane's header: its logo leads back to the app
      logo: { type: 'image/svg+xml', content: Buffer.from(LOGO), href: '/projects', target: '_self' },
      theme: {
        title: 'Tasklane API',
        css: [{ filename: 'tasklane.css', content: THEME_CSS }],
        js: [{ filename: 'tasklane.js', content: THEME_JS }],
      },
    });
  },
  { name: 'openapi' },
);
