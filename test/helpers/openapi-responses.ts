import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { expect } from 'vitest';

type Schema = Record<string, unknown>;
type Responses = Record<string, { content?: Record<string, { schema?: Schema }> }>;
interface Document {
  paths: Record<string, Record<string, { responses?: Responses }>>;
  components: { schemas?: Record<string, Schema> };
}

const DOCUMENT_ID = 'tasklane-openapi';

/** `/api/v1/projects/:projectId` → `/api/v1/projects/{projectId}`, the document's spelling. */
const documentPath = (routeUrl: string) => routeUrl.replace(/:(\w+)/g, '{$1}');

/** Schema references, made absolute so they resolve against the components registered once. */
function absoluteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(absoluteRefs);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `${DOCUMENT_ID}${v}` : absoluteRefs(v)]));
}

/**
 * Checks every `/api/v1` response the tests receive against the app's own OpenAPI document: the
 * route, the status code and the media type are documented, and a JSON body matches its schema.
 * An object body is checked before serialization, as the handler built it: the serializer would
 * turn a `null` the document does not allow into `""` or `0` and hide the difference.
 */
export class OpenApiResponseCheck {
  readonly mismatches: string[] = [];
  private document: Document | null = null;
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly validators = new Map<string, ValidateFunction>();
  /** object bodies as the handlers built them (JSON-copied), checked once the response is complete */
  private readonly rawBodies = new WeakMap<FastifyRequest, unknown>();

  constructor(private readonly app: FastifyInstance) {
    addFormats.default(this.ajv);
    this.ajv.addFormat('binary', true);
  }

  /** Registers the hooks on the (not yet ready) app: every route inherits them. */
  install() {
    this.app.addHook('preSerialization', async (request, _reply, payload) => {
      if (this.applies(request)) this.rawBodies.set(request, JSON.parse(JSON.stringify(payload)));
      return payload;
    });
    this.app.addHook('onSend', async (request, reply, payload) => {
      if (this.applies(request)) this.check(request, reply, payload);
      return payload;
    });
  }

  private check(request: FastifyRequest, reply: FastifyReply, payload: unknown) {
    const path = documentPath(request.routeOptions.url!);
    const operation = this.doc().paths[path]?.[request.method.toLowerCase()];
    if (!operation) return this.fail(request, reply, `the document has no operation ${request.method} ${path}`);
    const response = operation.responses?.[String(reply.statusCode)];
    if (!response) return this.fail(request, reply, `status ${reply.statusCode} is not documented (documented: ${Object.keys(operation.responses ?? {}).join(', ')})`);
    const media = String(reply.getHeader('content-type') ?? '').split(';')[0].trim();
    const documented = Object.keys(response.content ?? {});
    // a 204 carries no body (Fastify drops it, whatever type it had been given): documented without content
    if (reply.statusCode === 204 && documented.length === 0) return;
    if (!documented.includes(media)) return this.fail(request, reply, `media type "${media}" is not documented (documented: ${documented.join(', ') || 'none'})`);
    // a streamed file (a JSON download) is checked by its media type only
    if (media !== 'application/json' || (!this.rawBodies.has(request) && typeof payload !== 'string')) return;
    const body = this.rawBodies.has(request) ? this.rawBodies.get(request) : JSON.parse(payload as string);
    this.checkBody(request, reply, response.content![media].schema ?? {}, body);
  }

  private applies(request: FastifyRequest) {
    // unknown API paths (the JSON 404) have no route to compare
    return request.url.startsWith('/api/v1/') && request.method !== 'HEAD' && request.routeOptions.url !== undefined;
  }

  private fail(request: FastifyRequest, reply: FastifyReply, problem: string) {
    const test = expect.getState().currentTestName ?? '(outside a test)';
    this.mismatches.push(`${test}: ${request.method} ${request.url} → ${reply.statusCode}: ${problem}`);
  }

  private doc(): Document {
    if (!this.document) {
      this.document = this.app.swagger() as unknown as Document;
      this.ajv.addSchema({ $id: DOCUMENT_ID, components: this.document.components });
    }
    return this.document;
  }

  private checkBody(request: FastifyRequest, reply: FastifyReply, schema: Schema, body: unknown) {
    const key = `${request.method} ${request.routeOptions.url} ${reply.statusCode}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(absoluteRefs(schema) as Schema);
      this.validators.set(key, validate);
    }
    if (validate(body)) return;
    const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}${'allowedValues' in e.params ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}`);
    this.fail(request, reply, `the body does not match the document: ${errors.join('; ')}; body: ${String(JSON.stringify(body)).slice(0, 300)}`);
  }
}
