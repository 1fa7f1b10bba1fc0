import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable, type HttpError } from '../../lib/errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import type { ProjectAccess } from './project-access.ts';
import { INPUT_FIELD_TYPES, OUTPUT_FIELD_TYPES } from './project.entity.ts';
import { ProjectParams, StageParams } from '../../lib/params.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { ProjectCreateForm, SchemaQuery, parseSettingsForm, reviewPercentField } from './projects.schemas.ts';
import { dashboardView } from '../stats/dashboard-view.ts';
import { DashboardQuery, DEFAULT_RANGE } from '../stats/stats.schemas.ts';
import {
  inputRowsOf,
  outputRowsOf,
  readSchemaRows,
  validateInputRows,
  validateOutputRows,
  type InputRow,
  type OutputRow,
  type RowErrors,
} from './schema-fields.ts';

const DEFAULT_EMPTY_ROWS = 3;

/** A 422 or 409 whose `details` name form fields, as field errors (else its message, for the whole form). */
function fieldErrorsOf(err: HttpError): FieldErrors {
  const details = err.details;
  if (details && typeof details === 'object' && !Array.isArray(details)) return details as FieldErrors;
  return { _form: err.message };
}

async function renderSettings(
  request: FastifyRequest,
  reply: FastifyReply,
  access: ProjectAccess,
  form: { errors?: FieldErrors; values?: Record<string, unknown> } = {},
  status = 200,
) {
  const project = access.project;
  const stages = access.stages;
  const values: Record<string, unknown> = form.values ?? {
    name: project.name,
    slug: project.slug,
    description: project.description,
    instructionsUrl: project.instructionsUrl ?? '',
    autoAssign: project.autoAssign ? 'on' : undefined,
    queueSize: project.queueSize,
    reservationMinutes: project.reservationMinutes,
    autoArchiveAfterDays: project.autoArchiveAfterDays ?? '',
    ...Object.fromEntries(stages.filter((s) => s.kind === 'review').map((s) => [reviewPercentField(s.id), s.reviewPercent])),
  };
  return reply.render(
    'projects/settings',
    { title: `Settings · ${project.name}`, access, project, section: 'settings', stages, errors: form.errors ?? {}, values },
    status,
  );
}

function renderSchema(
  reply: FastifyReply,
  access: ProjectAccess,
  rows: { input: InputRow[]; output: OutputRow[] },
  form: { inputErrors?: RowErrors; outputErrors?: RowErrors; emptyRows?: number } = {},
  status = 200,
) {
  const emptyRows = form.emptyRows ?? DEFAULT_EMPTY_ROWS;
  const input = [...rows.input, ...Array.from({ length: emptyRows }, () => ({ name: '', type: 'text', required: false }))];
  const output = [...rows.output, ...Array.from({ length: emptyRows }, () => ({ name: '', type: 'text', options: '' }))];
  const failed = status === 422;
  return reply.render(
    'projects/schema',
    {
      title: `Task schema · ${access.project.name}`,
      access,
      project: access.project,
      section: 'schema',
      inputRows: input,
      outputRows: output,
      inputErrors: form.inputErrors ?? {},
      outputErrors: form.outputErrors ?? {},
      failed,
      inputTypes: INPUT_FIELD_TYPES,
      outputTypes: OUTPUT_FIELD_TYPES,
      moreRows: Math.min(emptyRows + 5, 50),
    },
    status,
  );
}

/** The project list and creating a project (outside the project scope). */
const projectsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/projects', async (request, reply) => {
    const user = request.requireUser();
    const projects = await request.services.projects.listFor(user);
    return reply.render('projects/index', { title: 'Projects', projects });
  });

  fastify.get('/projects/new', async (request, reply) => {
    request.requireInstanceAdmin();
    return reply.render('projects/new', { title: 'New project', values: { reviewStages: 1 } });
  });

  fastify.post('/projects', { schema: { body: FormBody } }, async (request, reply) => {
    const user = request.requireInstanceAdmin();
    const form = parseForm(ProjectCreateForm, request.body);
    if (!form.ok) return reply.render('projects/new', { title: 'New project', errors: form.errors, values: request.body }, 422);
    const project = await request.services.projects.create(user, form.value);
    reply.flash('success', `Project “${project.name}” created.`);
    return reply.redirect(`/projects/${project.id}`, 303);
  });
};

export default projectsRoutes;

/** One project's own pages: the Overview, settings, stages and the task schema (in the project scope). */
export const projectRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'admin' } as const;

  // the Overview: the project dashboard (figures in src/modules/stats); htmx refreshes #dashboard
  fastify.get('', { schema: { params: ProjectParams, querystring: DashboardQuery } }, async (request, reply) => {
    const user = request.requireUser();
    const { access } = request;
    const { projectId } = request.params;
    const { range = DEFAULT_RANGE, sort, dir } = request.query;
    const stats = await request.services.stats.forViewer(access, user, range);
    const dashboard = dashboardView(stats, { projectId, range, sort, dir, canManage: access.canManageTasks });
    const data = { title: access.project.name, access, project: access.project, stages: access.stages, section: 'overview', dashboard };
    if (request.wantsFragment('dashboard')) return reply.render('projects/_dashboard', data);
    return reply.render('projects/show', data);
  });

  // ── settings (project admins only; everyone else gets 404) ──────────────────────────────

  fastify.get('/settings', { config, schema: { params: ProjectParams } }, async (request, reply) => {
    return renderSettings(request, reply, request.access);
  });

  const SettingsSchema = { params: ProjectParams, body: FormBody };
  const settingsErrors = formErrors(SettingsSchema, {
    render: (request, reply, err) => renderSettings(request, reply, request.access, { errors: fieldErrorsOf(err), values: request.body }, 422),
  });

  fastify.post('/settings', { config: { ...config, formErrors: settingsErrors }, schema: SettingsSchema }, async (request, reply) => {
    const { access } = request;
    const form = parseSettingsForm(request.body, access.stages.filter((s) => s.kind === 'review'));
    if (!form.ok) throw unprocessable('The settings are not valid', form.errors);
    await request.services.projects.updateSettings(access, form.value);
    reply.flash('success', 'Settings saved.');
    return reply.redirect(`/projects/${access.project.id}/settings`, 303);
  });

  // ── stages: add a review stage, remove one that no task has been in ──────────────────

  const backToStages = formErrors({ params: ProjectParams }, { back: (request) => `/projects/${request.params.projectId}/settings#stages` });

  fastify.post('/stages', { config: { ...config, formErrors: backToStages }, schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const stage = await request.services.projects.addReviewStage(request.access);
    reply.flash('success', `${stage.name} added before Ground Truth.`);
    return reply.redirect(`/projects/${request.params.projectId}/settings#stages`, 303);
  });

  fastify.post('/stages/:stageId/deletion', { config: { ...config, formErrors: backToStages }, schema: { params: StageParams, body: FormBody } }, async (request, reply) => {
    const stage = await request.services.projects.removeReviewStage(request.access, request.params.stageId);
    reply.flash('success', `${stage.name} removed.`);
    return reply.redirect(`/projects/${request.params.projectId}/settings#stages`, 303);
  });

  // ── task schema: input fields (what a task carries) and output fields (what annotators answer) ──

  fastify.get('/schema', { config, schema: { params: ProjectParams, querystring: SchemaQuery } }, async (request, reply) => {
    const { access } = request;
    const project = access.project;
    return renderSchema(reply, access, { input: inputRowsOf(project.inputSchema), output: outputRowsOf(project.outputSchema) }, { emptyRows: request.query.rows });
  });

  fastify.post('/schema', { config, schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const { access } = request;
    const { projectId } = request.params;
    const rows = readSchemaRows(request.body);
    const input = validateInputRows(rows.input);
    const output = validateOutputRows(rows.output);
    if (!input.ok || !output.ok) {
      // rows keep their positions (errors are by position); trailing blank rows make way for fresh ones
      const trim = <R extends { name: string }>(list: R[]) => list.slice(0, list.findLastIndex((r) => r.name.trim() !== '') + 1);
      return renderSchema(
        reply,
        access,
        { input: trim(rows.input), output: trim(rows.output) },
        { inputErrors: input.ok ? {} : input.errors, outputErrors: output.ok ? {} : output.errors },
        422,
      );
    }
    await request.services.projects.updateSchemas(access, input.fields, output.fields);
    reply.flash('success', `Task schema saved: ${input.fields.length} input and ${output.fields.length} output fields.`);
    return reply.redirect(`/projects/${projectId}/schema`, 303);
  });
};
