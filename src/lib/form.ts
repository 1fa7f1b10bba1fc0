import { Type, type TSchema, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { unprocessable } from './errors.ts';

export type FieldErrors = Record<string, string>;
export type FormResult<T> = { ok: true; value: T } | { ok: false; errors: FieldErrors };

/**
 * Validates a submitted form against a TypeBox schema and turns failures into one readable
 * message per field. Empty strings count as missing, so optional fields may be left blank.
 * Field titles come from the schema's `title`.
 */
export function parseForm<S extends TSchema>(schema: S, body: unknown): FormResult<Static<S>> {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries((body ?? {}) as Record<string, unknown>)) {
    if (key === '_csrf') continue;
    const v = typeof value === 'string' ? value.trim() : value;
    if (v !== '') input[key] = v;
  }
  const converted = Value.Default(schema, Value.Convert(schema, Value.Clean(schema, structuredClone(input))));
  if (Value.Check(schema, converted)) return { ok: true, value: converted as Static<S> };

  const errors: FieldErrors = {};
  const properties = (schema as { properties?: Record<string, { title?: string; errorMessage?: string }> }).properties ?? {};
  // every problem at once: one "required" error names all the missing fields
  for (const error of Value.Errors(schema, converted)) {
    const missing = (error as { keyword?: string }).keyword === 'required';
    const fields = missing
      ? ((error as { params?: { requiredProperties?: string[] } }).params?.requiredProperties ?? []).map(String)
      : [error.instancePath.replace(/^\//, '').split('/')[0]];
    for (const field of fields) {
      if (!field || errors[field]) continue;
      const prop = properties[field] ?? {};
      const title = prop.title ?? field;
      errors[field] = missing ? `${title} is required` : prop.errorMessage ?? `${title} ${error.message}`;
    }
  }
  return { ok: false, errors };
}

/** Body schema of an HTML form route: any fields, checked afterwards by parseForm (so errors re-render). */
export const FormBody = Type.Record(Type.String(), Type.Unknown());

/** The JSON API runs a form's rules too: a failure is one 422 whose `details` give a message per field. */
export function formValueOrThrow<T>(result: FormResult<T>): T {
  if (!result.ok) throw unprocessable(Object.values(result.errors)[0] ?? 'The request is not valid', result.errors);
  return result.value;
}
