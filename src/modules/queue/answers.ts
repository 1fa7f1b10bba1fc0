import type { OutputField } from '../projects/project.entity.ts';

export type Answers = Record<string, unknown>;
export type AnswerErrors = Record<string, string>;

/** Form field name of an answer: `answer.<field name>`. */
export const answerKey = (name: string) => `answer.${name}`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null || v === '' ? [] : [v]);

/**
 * Checks one answer against its field; returns the stored value, `undefined` for "no answer",
 * or an error message. Used for JSON bodies (typed values) and for forms (strings) alike.
 */
function coerce(field: OutputField, raw: unknown, fromForm: boolean): { value?: unknown; error?: string } {
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '' && field.type !== 'text')) return {};
  switch (field.type) {
    case 'text':
      if (typeof raw !== 'string') return { error: 'must be text' };
      if (raw.length > 100_000) return { error: 'is too long (100,000 characters at most)' };
      return raw === '' ? {} : { value: raw };
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && fromForm ? Number(raw.trim()) : Number.NaN;
      return Number.isFinite(n) ? { value: n } : { error: 'must be a number' };
    }
    case 'boolean':
      if (typeof raw === 'boolean') return { value: raw };
      if (fromForm && (raw === 'true' || raw === 'false')) return { value: raw === 'true' };
      return { error: 'must be yes or no' };
    case 'choice':
      if (typeof raw !== 'string' || !(field.options ?? []).includes(raw)) return { error: 'must be one of the options' };
      return { value: raw };
    case 'multi_choice': {
      const values = list(raw);
      if (!values.every((v) => typeof v === 'string' && (field.options ?? []).includes(v))) return { error: 'must be among the options' };
      return values.length ? { value: [...new Set(values)] } : {};
    }
    case 'json':
      if (!fromForm) return { value: raw };
      if (typeof raw !== 'string') return { error: 'must be JSON' };
      try {
        return { value: JSON.parse(raw) };
      } catch {
        return { error: 'is not valid JSON' };
      }
  }
}

/**
 * Validates answers against the output schema. Keys the schema does not list are refused
 * (a JSON body) or ignored (a form only sends schema fields).
 */
export function parseAnswers(schema: OutputField[], input: unknown, { fromForm = false } = {}): { answers: Answers; errors: AnswerErrors } {
  const answers: Answers = {};
  const errors: AnswerErrors = {};
  const source: Record<string, unknown> = isObject(input) ? input : {};
  if (!fromForm && !isObject(input)) errors.answers = 'must be an object';
  const names = new Set(schema.map((f) => f.name));
  if (!fromForm) for (const key of Object.keys(source)) if (!names.has(key)) errors[key] = 'is not a field of the output schema';
  for (const field of schema) {
    const raw = fromForm ? source[answerKey(field.name)] : source[field.name];
    // an unticked checkbox group sends nothing: on a form that means "none chosen"
    const { value, error } = coerce(field, raw, fromForm);
    if (error) errors[field.name] = `${field.name} ${error}`;
    else if (value !== undefined) answers[field.name] = value;
  }
  return { answers, errors };
}

/** The value a form control shows for an answer (what `parseAnswers(…, { fromForm })` reads back). */
export function formValue(field: OutputField, value: unknown): string | string[] {
  if (value === undefined || value === null) return field.type === 'multi_choice' ? [] : '';
  switch (field.type) {
    case 'multi_choice':
      return Array.isArray(value) ? value.map(String) : [String(value)];
    case 'boolean':
      return value === true ? 'true' : value === false ? 'false' : '';
    case 'json':
      return JSON.stringify(value, null, 2);
    default:
      return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  }
}
