import AjvCompiler from '@fastify/ajv-compiler';
import { notFound } from './errors.ts';

/**
 * Fastify's validator, made strict about numbers. Ajv's coercion reads any string that `+x`
 * accepts, so `1e3` became 1000 and `Infinity` or 19-digit ids reached PostgreSQL (500s). This
 * wraps the default compiler:
 * - an integer in the path or query string must be written as digits (optionally `-`), a number
 *   in decimal or exponent notation (no `Infinity`);
 * - after validation every integer must be a safe integer and every number finite, at least the
 *   schema's minimum (Ajv compares before its coercion lands, so `"Infinity"` passed `maximum`);
 * - a path id that is well-formed but beyond the safe range names nothing: 404.
 * The OpenAPI document still shows the route schemas as written.
 */
type Schema = Record<string, unknown>;
type RouteSchema = { schema: Schema; method: string; url: string; httpPart?: string };
type Validate = ((data: unknown) => unknown) & { errors?: unknown };

const DIGITS = /^-?\d+$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

export function strictNumbersValidatorFactory(): AjvCompiler.BuildCompilerFromPool {
  const base = AjvCompiler();
  // the published types say compile(schema); Fastify calls it with the route definition
  return function buildValidator(externalSchemas: unknown, options: unknown) {
    const compile = base(externalSchemas as never, options as never) as unknown as (route: RouteSchema) => Validate;
    // JSON bodies are typed by the client: no coercion, so 0 stays 0 where null is also allowed (and "5" is not 5)
    const custom = (options as { customOptions?: Record<string, unknown> }).customOptions ?? {};
    const compileBody = AjvCompiler()(externalSchemas as never, { ...(options as object), customOptions: { ...custom, coerceTypes: false } } as never) as unknown as (route: RouteSchema) => Validate;
    return function compileRoute(route: RouteSchema): Validate {
      const validate = route.httpPart === 'body' ? compileBody(route) : compile(route);
      const inUrl = route.httpPart === 'params' || route.httpPart === 'querystring';
      const written = inUrl ? numericProperties(route.schema) : [];
      const wrapped: Validate = (data: unknown) => {
        for (const { key, integer } of written) {
          for (const raw of [((data ?? {}) as Record<string, unknown>)[key]].flat()) {
            if (typeof raw !== 'string') continue;
            const text = raw.trim();
            if (integer ? !DIGITS.test(text) : !NUMBER.test(text)) {
              return { error: validationError(`/${key}`, integer ? 'must be a whole number written in digits' : 'must be a number') };
            }
          }
        }
        const ok = validate(data);
        wrapped.errors = validate.errors;
        if (!ok) return ok;
        // Ajv checks minimum/maximum before its coercion lands, so ranges are checked here
        const bad = outOfRange(route.schema, data, '');
        if (!bad) return ok;
        if (route.httpPart === 'params' && bad.integer) return { error: notFound() };
        return { error: validationError(bad.path, bad.integer ? 'must be a whole number in range' : 'must be a finite number') };
      };
      return wrapped;
    };
  } as unknown as AjvCompiler.BuildCompilerFromPool;
}

function validationError(path: string, message: string) {
  return Object.assign(new Error(`${path} ${message}`), { statusCode: 422, validation: [{ instancePath: path, message }] });
}

/** Top-level properties that hold numbers (or lists of them), as the path and query string have. */
function numericProperties(schema: Schema): { key: string; integer: boolean }[] {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const found: { key: string; integer: boolean }[] = [];
  for (const [key, property] of Object.entries(properties)) {
    // a value read as a list (`type: array`) is checked item by item; a union with text is left to Ajv
    const choices = (property.anyOf ?? property.oneOf ?? [property]) as Schema[];
    const types = choices.map((c) => (c.type === 'array' ? ((c.items ?? {}) as Schema).type : c.type)).filter((t) => t !== 'null');
    if (types.length && types.every((t) => t === 'integer')) found.push({ key, integer: true });
    else if (types.length && types.every((t) => t === 'integer' || t === 'number')) found.push({ key, integer: false });
  }
  return found;
}

function alternatives(schema: Schema): Schema[] {
  return [schema, ...((schema.anyOf ?? schema.oneOf ?? []) as Schema[])];
}

/** The first number in `data` that its schema's integer or number type cannot hold, with its path. */
function outOfRange(schema: Schema | undefined, data: unknown, path: string): { path: string; integer: boolean } | null {
  if (!schema || data === null || data === undefined) return null;
  if (typeof data === 'number') {
    const types = alternatives(schema).map((c) => c.type);
    const minimum = alternatives(schema).find((c) => c.type === 'integer' || c.type === 'number')?.minimum;
    if (types.includes('integer') && (!Number.isSafeInteger(data) || (typeof minimum === 'number' && data < minimum))) return { path, integer: true };
    if (types.includes('number') && (!Number.isFinite(data) || (typeof minimum === 'number' && data < minimum))) return { path, integer: false };
    if (!types.includes('integer') && !types.includes('number') && !Number.isFinite(data)) return { path, integer: false };
    return null;
  }
  if (Array.isArray(data)) {
    const items = alternatives(schema).find((c) => c.items)?.items as Schema | undefined;
    for (let i = 0; i < data.length; i++) {
      const bad = outOfRange(items, data[i], `${path}/${i}`);
      if (bad) return bad;
    }
    return null;
  }
  if (typeof data === 'object') {
    const properties = alternatives(schema).find((c) => c.properties)?.properties as Record<string, Schema> | undefined;
    for (const [key, value] of Object.entries(data)) {
      const bad = outOfRange(properties?.[key], value, `${path}/${key}`);
      if (bad) return bad;
    }
  }
  return null;
}

/** The one reading of an id typed into a form field or query: digits naming a safe integer ≥ 1, else null. */
export function parseId(value: unknown): number | null {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d{1,16}$/.test(text)) return null;
  const id = Number(text);
  return id >= 1 && Number.isSafeInteger(id) ? id : null;
}

/** Ids of a field that may hold one value or many; null when any of them is not an id. */
export function parseIdList(value: unknown): number[] | null {
  const ids = (Array.isArray(value) ? value : value === undefined || value === '' ? [] : [value]).map(parseId);
  return ids.every((id) => id !== null) ? (ids as number[]) : null;
}
