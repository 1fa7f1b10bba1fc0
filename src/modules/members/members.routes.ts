import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { MemberParams, ProjectParams } from '../../lib/params.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { WORK_STAGE_KINDS } from './members.service.ts';
import { PROJECT_ROLES } from './project-member.entity.ts';

const Role = Type.Union(PROJECT_ROLES.map((r) => Type.Literal(r)), { title: 'Role', errorMessage: 'Choose a role' });
const StageIds = Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { title: 'Stage access', maxItems: 100, errorMessage: 'Choose stages from the list' }));

export const MemberAddForm = Type.Object({
  email: Type.String({ title: 'User', minLength: 1, maxLength: 254, errorMessage: 'Choose a user' }),
  role: Role,
  stageIds: StageIds,
});
export const MemberUpdateForm = Type.Object({ role: Role, stageIds: StageIds });

/** Checkbox groups arrive as one string or an array of strings: always a list. */
function withStageList(body: unknown): Record<string, unknown> {
  const values = { ...((body ?? {}) as Record<string, unknown>) };
  const raw = values.stageIds;
  values.stageIds = raw === undefined || raw === '' ? [] : Array.isArray(raw) ? raw : [raw];
  return values;
}

async function renderMembers(
  request: FastifyRequest,
  reply: FastifyReply,
  access: ProjectAccess,
  form: { errors?: FieldErrors; values?: Record<string, unknown> } = {},
  status = 200,
) {
  const { members: membersService } = request.services;
  const [members, candidates] = await Promise.all([membersService.list(access), membersService.candidates(access)]);
  const stages = access.stages;
  return reply.render(
    'members/index',
    {
      title: `Members · ${access.project.name}`,
      access,
      project: access.project,
      section: 'members',
      members,
      candidates,
      // stage access is about working stages: nobody works in Ground Truth
      workStages: stages.filter((s) => WORK_STAGE_KINDS.includes(s.kind)),
      roles: PROJECT_ROLES,
      errors: form.errors ?? {},
      values: form.values ?? { email: '', role: 'member', stageIds: [] },
    },
    status,
  );
}

/** The Members page: who works in the project, with which role and stages (project admins only). */
const membersRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const config = { role: 'admin' } as const;

  fastify.get('/members', { config, schema: { params: ProjectParams } }, async (request, reply) => {
    return renderMembers(request, reply, request.access);
  });

  const AddSchema = { params: ProjectParams, body: FormBody };
  const addErrors = formErrors(AddSchema, {
    render: (request, reply, err) => {
      const errors = err.details && typeof err.details === 'object' ? (err.details as FieldErrors) : { email: err.message };
      return renderMembers(request, reply, request.access, { errors, values: withStageList(request.body) }, 422);
    },
  });
  // a change from the list is said back on the list
  const backToList = formErrors({ params: MemberParams }, { back: (request) => `/projects/${request.params.projectId}/members` });

  fastify.post('/members', { config: { ...config, formErrors: addErrors }, schema: AddSchema }, async (request, reply) => {
    const form = parseForm(MemberAddForm, withStageList(request.body));
    if (!form.ok) throw unprocessable('The member is not valid', { ...form.errors, ...(form.errors.email ? { email: 'Choose a user' } : {}) });
    const member = await request.services.members.add(request.access, form.value.email, { role: form.value.role, stageIds: form.value.stageIds ?? [] });
    reply.flash('success', `${member.user.name} added as ${member.role}.`);
    return reply.redirect(`/projects/${request.params.projectId}/members`, 303);
  });

  fastify.post('/members/:memberId', { config: { ...config, formErrors: backToList }, schema: { params: MemberParams, body: FormBody } }, async (request, reply) => {
    const { projectId, memberId } = request.params;
    const form = parseForm(MemberUpdateForm, withStageList(request.body));
    if (!form.ok) throw unprocessable(Object.values(form.errors).join('. '));
    const member = await request.services.members.update(request.access, memberId, { role: form.value.role, stageIds: form.value.stageIds ?? [] });
    reply.flash('success', `${member.user.name} updated.`);
    return reply.redirect(`/projects/${projectId}/members`, 303);
  });

  fastify.post('/members/:memberId/deletion', { config: { ...config, formErrors: backToList }, schema: { params: MemberParams, body: FormBody } }, async (request, reply) => {
    const member = await request.services.members.remove(request.access, request.params.memberId);
    reply.flash('success', `${member.user.name} removed from the project.`);
    return reply.redirect(`/projects/${request.params.projectId}/members`, 303);
  });
};

export default membersRoutes;
