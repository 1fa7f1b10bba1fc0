import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { isFormError } from '../../lib/errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectParams } from '../projects/projects.schemas.ts';
import { WORK_STAGE_KINDS } from './members.service.ts';
import { PROJECT_ROLES } from './project-member.entity.ts';

const MemberParams = Type.Object({ projectId: Type.Integer({ minimum: 1 }), memberId: Type.Integer({ minimum: 1 }) });

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
  const { members: membersService, projects } = request.services;
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

export default async function membersRoutes(fastify: FastifyInstance) {
  fastify.get('/projects/:projectId/members', { schema: { params: ProjectParams } }, async (request, reply) => {
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'admin');
    return renderMembers(request, reply, access);
  });

  fastify.post('/projects/:projectId/members', { schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'admin');
    const values = withStageList(request.body);
    const form = parseForm(MemberAddForm, values);
    if (!form.ok) {
      if (form.errors.email) form.errors.email = 'Choose a user';
      return renderMembers(request, reply, access, { errors: form.errors, values }, 422);
    }
    try {
      const member = await request.services.members.add(access, form.value.email, { role: form.value.role, stageIds: form.value.stageIds ?? [] });
      reply.flash('success', `${member.user.name} added as ${member.role}.`);
    } catch (err) {
      if (!isFormError(err)) throw err;
      const details = err.details && typeof err.details === 'object' ? (err.details as FieldErrors) : { email: err.message };
      return renderMembers(request, reply, access, { errors: details, values }, 422);
    }
    return reply.redirect(`/projects/${projectId}/members`, 303);
  });

  fastify.post('/projects/:projectId/members/:memberId', { schema: { params: MemberParams, body: FormBody } }, async (request, reply) => {
    const { projectId, memberId } = request.params as { projectId: number; memberId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'admin');
    const form = parseForm(MemberUpdateForm, withStageList(request.body));
    if (!form.ok) {
      reply.flash('error', Object.values(form.errors).join('. '));
      return reply.redirect(`/projects/${projectId}/members`, 303);
    }
    try {
      const member = await request.services.members.update(access, memberId, { role: form.value.role, stageIds: form.value.stageIds ?? [] });
      reply.flash('success', `${member.user.name} updated.`);
    } catch (err) {
      if (!isFormError(err)) throw err;
      reply.flash('error', err.message);
    }
    return reply.redirect(`/projects/${projectId}/members`, 303);
  });

  fastify.post('/projects/:projectId/members/:memberId/deletion', { schema: { params: MemberParams, body: FormBody } }, async (request, reply) => {
    const { projectId, memberId } = request.params as { projectId: number; memberId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId, 'admin');
    try {
      const member = await request.services.members.remove(access, memberId);
      reply.flash('success', `${member.user.name} removed from the project.`);
    } catch (err) {
      if (!isFormError(err)) throw err;
      reply.flash('error', err.message);
    }
    return reply.redirect(`/projects/${projectId}/members`, 303);
  });
}
