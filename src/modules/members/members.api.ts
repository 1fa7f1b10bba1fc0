import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { unprocessable } from '../../lib/errors.ts';
import { formValueOrThrow, parseForm } from '../../lib/form.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { MemberParams, ProjectParams } from '../../lib/params.ts';
import { findStage } from '../stages/stage-ref.ts';
import { ErrorResponse } from '../system/api.schemas.ts';
import { MemberAddForm, MemberUpdateForm } from './members.routes.ts';
import { WORK_STAGE_KINDS } from './members.service.ts';
import { PROJECT_ROLES, type IProjectMember } from './project-member.entity.ts';

/** Every route here is for project admins: the project scope refuses everyone else. */
const ADMIN = { role: 'admin' as const };
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };
const Role = Type.String({ enum: [...PROJECT_ROLES] });
const StageAccess = Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })]), {
  maxItems: 100, description: 'Label and review stages (ids or names) the member may work in; empty means every stage',
});
const Member = Type.Object({
  id: Type.Integer({ description: 'The membership id (used in …/members/:memberId)' }),
  user: Type.Object({ id: Type.Integer(), email: Type.String(), name: Type.String() }),
  role: Role,
  stages: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String() }), { description: 'The stages the member may work in; empty means every stage' }),
  createdAt: Type.String({ format: 'date-time' }),
}, { title: 'Member' });

const toMember = (m: IProjectMember) => ({
  id: m.id, user: { id: m.user.id, email: m.user.email, name: m.user.name }, role: m.role,
  stages: m.stages.getItems().sort((a, b) => a.position - b.position).map((s) => ({ id: s.id, name: s.name })),
  createdAt: m.createdAt.toISOString(),
});

/** Stage access given by ids or names, as ids: each must name a stage members work in (not Ground Truth). */
function stageIdsOf(access: ProjectAccess, refs: Array<number | string>): number[] {
  const workStages = access.stages.filter((s) => WORK_STAGE_KINDS.includes(s.kind));
  const found = refs.map((ref) => ({ ref, stage: findStage(workStages, ref) }));
  const unknown = found.filter((f) => !f.stage).map((f) => f.ref);
  if (unknown.length) throw unprocessable(`Unknown stage: ${unknown.join(', ')}`, { stages: `No label or review stage is called or numbered ${unknown.map((r) => `“${r}”`).join(', ')}` });
  return found.flatMap((f) => (f.stage ? [f.stage.id] : []));
}

/** Project members in the JSON API (project admins), with the Members page's rules. */
const membersApi: FastifyPluginAsyncTypebox = async (fastify) => {

  fastify.get('/members', {
    config: ADMIN,
    schema: {
      operationId: 'listMembers', tags: ['members'], summary: 'The project’s members with their role and stage access (project admins)',
      params: ProjectParams, response: { 200: Type.Object({ items: Type.Array(Member) }), ...errors },
    },
  }, async (request) => {
    const access = request.access;
    return { items: (await request.services.members.list(access)).map(toMember) };
  });

  fastify.post('/members', {
    config: ADMIN,
    schema: {
      operationId: 'addMember', tags: ['members'], summary: 'Add an active user to the project with a role and stage access',
      params: ProjectParams,
      body: Type.Object({ email: Type.String({ description: 'The user’s email' }), role: Role, stages: Type.Optional(StageAccess) }, { additionalProperties: false }),
      response: { 201: Member, ...errors, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const access = request.access;
    const { email, role, stages } = request.body;
    const input = formValueOrThrow(parseForm(MemberAddForm, { email, role, stageIds: stageIdsOf(access, stages ?? []) }));
    const member = await request.services.members.add(access, input.email, { role: input.role, stageIds: input.stageIds ?? [] });
    return reply.code(201).send(toMember(member));
  });

  fastify.patch('/members/:memberId', {
    config: ADMIN,
    schema: {
      operationId: 'updateMember', tags: ['members'], summary: 'Change a member’s role or stage access; fields left out keep their value',
      description: 'A project admin cannot demote themselves (409): another project admin or an instance admin does it.',
      params: MemberParams,
      body: Type.Object({ role: Type.Optional(Role), stages: Type.Optional(StageAccess) }, { additionalProperties: false }),
      response: { 200: Member, ...errors, 409: ErrorResponse },
    },
  }, async (request) => {
    const access = request.access;
    const current = await request.services.members.get(access, request.params.memberId);
    const { role, stages } = request.body;
    const stageIds = stages ? stageIdsOf(access, stages) : current.stages.getItems().map((s) => s.id);
    const input = formValueOrThrow(parseForm(MemberUpdateForm, { role: role ?? current.role, stageIds }));
    return toMember(await request.services.members.update(access, current.id, { role: input.role, stageIds: input.stageIds ?? [] }));
  });

  fastify.delete('/members/:memberId', {
    config: ADMIN,
    schema: {
      operationId: 'removeMember', tags: ['members'], summary: 'Remove a member from the project',
      description: 'A project admin cannot remove themselves (409).',
      params: MemberParams, response: { 204: Type.Null({ description: 'Removed' }), ...errors, 409: ErrorResponse },
    },
  }, async (request, reply) => {
    const access = request.access;
    await request.services.members.remove(access, request.params.memberId);
    return reply.code(204).send(null);
  });
};

export default membersApi;
