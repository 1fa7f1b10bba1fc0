import { Type, type TSchema, type TSchemaOptions } from 'typebox';
import { ASSIGNMENT_KINDS, OPEN_ASSIGNMENT_STATUSES, TASK_STATES } from '../workflow/task-states.ts';

/*
 * Schemas shared by the API routes. A schema whose `title` is a PascalCase name is published once
 * under `components.schemas` and referenced by `$ref` (swagger.ts hoists it): TypeBox `$id`s cannot
 * be used for that, as Ajv refuses a response that holds the same `$id` twice.
 */

/** `T` or `null`. */
export const Nullable = <T extends TSchema>(schema: T, options?: TSchemaOptions) => Type.Union([schema, Type.Null()], options);

/** Every API error: `{ error, message, details? }`. */
export const ErrorResponse = Type.Object({
  error: Type.String({
    description: 'Machine-readable code: unauthorized, forbidden, not_found, conflict, validation_failed, invalid_json, unsupported_media_type, too_large, bad_request, …',
  }),
  message: Type.String({ description: 'What went wrong, in a sentence that can be shown to a person' }),
  details: Type.Optional(Type.Unknown({ description: 'Per-field messages (422) or the conflicting versions (409)' })),
}, { title: 'Error' });

/** The error statuses an API route can answer. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429;

/** The error responses of a route, all in the `Error` shape. */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]): Record<S, typeof ErrorResponse> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorResponse])) as Record<S, typeof ErrorResponse>;
}

/** What every API route that takes a body (POST, PUT, PATCH, DELETE) can also answer: unreadable (400), too large (413), another media type (415). */
export const BODY_ERRORS = errorResponses(400, 413, 415);

/** A stage as every response names it. */
export const StageRef = Type.Object({ id: Type.Integer(), name: Type.String({ description: 'e.g. Label, Review_1, Ground Truth' }) }, { title: 'StageRef' });
/** A user as a response names them. */
export const UserRef = Type.Object({ id: Type.Integer(), name: Type.String() }, { title: 'UserRef' });
/** A user with their email. */
export const Person = Type.Object({ id: Type.Integer(), name: Type.String(), email: Type.String() }, { title: 'Person' });

export const TaskState = Type.String({ enum: [...TASK_STATES], title: 'TaskState' });
export const OpenAssignmentStatus = Type.String({ enum: [...OPEN_ASSIGNMENT_STATUSES], title: 'OpenAssignmentStatus' });
export const AssignmentKind = Type.String({ enum: [...ASSIGNMENT_KINDS], title: 'AssignmentKind' });

/** The outcome of a bulk edit on tasks. */
export const BulkResult = Type.Object({
  changed: Type.Integer({ description: 'Tasks changed' }),
  skipped: Type.Record(Type.String(), Type.Integer(), { description: 'Tasks left alone, counted by reason' }),
  operationId: Type.Optional(Type.Integer({ description: 'Set when the selection is large and the edit runs in the background' })),
}, { title: 'BulkResult' });

/** 1 to 5,000 task ids. */
export const MAX_TASK_IDS = 5_000;
export const TaskIds = Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: MAX_TASK_IDS, description: `1 to ${MAX_TASK_IDS} task ids` });
