import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { formValueOrThrow, parseForm } from '../../lib/form.ts';
import { ErrorResponse } from '../system/api.schemas.ts';
import { requireInstanceAdminApi } from '../users/instance-admin.ts';
import { INPUT_FIELD_TYPES, OUTPUT_FIELD_TYPES, type IProject } from './project.entity.ts';
import { InputField, OutputField, ProjectBody, toProject } from './projects.api.ts';
import { ProjectParams } from '../../lib/params.ts';
import { ProjectCreateForm, parseSettingsForm } from './projects.schemas.ts';
import { MAX_ROWS, validateInputRows, validateOutputFields, type RowErrors, type SchemaResult } from './schema-fields.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
/** Every route here is for project admins: the project scope refuses everyone else. */
const ADMIN = { role: 'admin' as const };
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };

const ProjectCreate = Type.Object({
  name: Type.String({ description: '1–120 characters' }),
  description: Type.Optional(Type.String({ description: 'At most 2,000 characters' })),
  reviewStages: Type.Optional(Type.Integer({ description: 'Review stages between Label and Ground Truth, 0–10 (default 1)' })),
}, { additionalProperties: false });

const ProjectSettingsPatch = Type.Object({
  name: Type.Optional(Type.String({ description: '1–120 characters' })),
  slug: Type.Optional(Type.String({ description: 'Lowercase letters, digits and single hyphens, at most 60 characters; unique' })),
  description: Type.Optional(Type.String({ description: 'At most 2,000 characters' })),
  instructionsUrl: Type.Optional(Nullable(Type.String({ description: 'An http(s) address shown to every annotator; null removes it' }))),
  autoAssign: Type.Optional(Type.Boolean({ description: 'Requesting work claims tasks from the pool' })),
  queueSize: Type.Optional(Type.Integer({ description: 'Tasks per request, 1–50' })),
  reservationMinutes: Type.Optional(Type.Integer({ description: 'Reservation lease in minutes, 1–525,600' })),
  autoArchiveAfterDays: Type.Optional(Nullable(Type.Integer({ description: 'Archive finished tasks after 1–3,650 days; null turns it off' }))),
}, { additionalProperties: false });

const FieldName = Type.String({ minLength: 1, description: 'Letters, digits and underscores, not starting with a digit, at most 64; unique (case-insensitively); not an upload column (name, priority, …)' });
const InputSchemaBody = Type.Object({
  fields: Type.Array(Type.Object({
    name: FieldName,
    type: Type.String({ enum: [...INPUT_FIELD_TYPES] }),
    required: Type.Optional(Type.Boolean({ default: false })),
  }, { additionalProperties: false }), { maxItems: MAX_ROWS }),
}, { additionalProperties: false });
const OutputSchemaBody = Type.Object({
  fields: Type.Array(Type.Object({
    name: FieldName,
    type: Type.String({ enum: [...OUTPUT_FIELD_TYPES] }),
    options: Type.Optional(Type.Array(Type.String(), { description: 'The choices of a choice or multi_choice field (required there, refused elsewhere); unique, no commas' })),
  }, { additionalProperties: false }), { maxItems: MAX_ROWS }),
}, { additionalProperties: false });

/**
 * The settings page's form as these values would fill it: the project's current settings with the
 * patch on top, an unset URL or archive delay as an empty field, auto-assign as a checkbox.
 */
function settingsForm(project: IProject, patch: Static<typeof ProjectSettingsPatch>): Record<string, unknown> {
  const v = {
    name: project.name, slug: project.slug, description: project.description, instructionsUrl: project.instructionsUrl ?? null,
    autoAssign: project.autoAssign, queueSize: project.queueSize, reservationMinutes: project.reservationMinutes,
    autoArchiveAfterDays: project.autoArchiveAfterDays ?? null, ...patch,
  };
  return { ...v, instructionsUrl: v.instructionsUrl ?? '', autoArchiveAfterDays: v.autoArchiveAfterDays ?? '', autoAssign: v.autoAssign ? 'on' : '' };
}

/**
 * The schema page's rules for a list of fields; a blank name (which the page reads as an empty row)
 * is a mistake here. Failures are one 422 with a message per `fields.<index>.<column>`.
 */
function schemaFields<F>(names: string[], result: SchemaResult<F>): F[] {
  const details: Record<string, string> = {};
  names.forEach((name, index) => {
    if (name.trim() === '') details[`fields.${index}.name`] = 'Enter a name';
  });
  const rows: RowErrors = result.ok ? {} : result.errors;
  for (const [index, columns] of Object.entries(rows)) {
    for (const [column, message] of Object.entries(columns)) details[`fields.${index}.${column}`] = message;
  }
  if (Object.keys(details).length || !result.ok) throw unprocessable(Object.values(details)[0] ?? 'The fields are not valid', details);
  return result.fields;
}

/** Creating a project in the JSON API (instance admins; outside the project scope). */
export const projectCreationApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/projects', {
    schema: {
      operationId: 'createProject', tags: ['projects'],
      summary: 'Create a project (instance admins): Label, the review stages, Ground Truth; you become its admin',
      body: ProjectCreate,
      response: { 201: ProjectBody, 401: ErrorResponse, 403: ErrorResponse, 422: ErrorResponse },
    },
  }, async (request, reply) => {
    const user = requireInstanceAdminApi(request);
    const input = formValueOrThrow(parseForm(ProjectCreateForm, request.body));
    const project = await request.services.projects.create(user, input);
    return reply.code(201).send(toProject(project, 'admin'));
  });
};

/** One project's setup in the JSON API (project admins): its settings and its task schema, with the pages' rules. */
const projectSetupApi: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.patch('', {
    config: ADMIN,
    schema: {
      operationId: 'updateProject', tags: ['projects'],
      summary: 'Change a project’s settings (project admins); fields left out keep their value',
      description: 'Review percentages are set per stage (`PATCH …/stages/:stage`).',
      params: ProjectParams, body: ProjectSettingsPatch,
      response: { 200: ProjectBody, ...errors, 409: ErrorResponse },
    },
  }, async (request) => {
    const access = request.access;
    const settings = formValueOrThrow(parseSettingsForm(settingsForm(access.project, request.body), []));
    await request.services.projects.updateSettings(access, settings);
    return toProject(access.project, access.role);
  });

  fastify.put('/input-schema', {
    config: ADMIN,
    schema: {
      operationId: 'setInputSchema', tags: ['projects'],
      summary: 'Set the input fields (what a task carries; project admins), replacing the current ones',
      params: ProjectParams, body: InputSchemaBody,
      response: { 200: Type.Object({ fields: Type.Array(InputField) }), ...errors },
    },
  }, async (request) => {
    const access = request.access;
    const { fields } = request.body;
    const input = schemaFields(fields.map((f) => f.name), validateInputRows(fields.map((f) => ({ name: f.name, type: f.type, required: f.required ?? false }))));
    await request.services.projects.updateSchemas(access, input, access.project.outputSchema);
    return { fields: access.project.inputSchema };
  });

  fastify.put('/output-schema', {
    config: ADMIN,
    schema: {
      operationId: 'setOutputSchema', tags: ['projects'],
      summary: 'Set the output fields (what annotators answer; project admins), replacing the current ones',
      params: ProjectParams, body: OutputSchemaBody,
      response: { 200: Type.Object({ fields: Type.Array(OutputField) }), ...errors },
    },
  }, async (request) => {
    const access = request.access;
    const { fields } = request.body;
    const output = schemaFields(fields.map((f) => f.name), validateOutputFields(fields.map((f) => ({ name: f.name, type: f.type, options: f.options ?? [] }))));
    await request.services.projects.updateSchemas(access, access.project.inputSchema, output);
    return { fields: access.project.outputSchema };
  });
};

export default projectSetupApi;
