import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses, Nullable } from '../system/api.schemas.ts';
import { ProjectParams } from '../../lib/params.ts';
import { INPUT_FIELD_TYPES, OUTPUT_FIELD_TYPES, type IProject } from './project.entity.ts';
import type { StageInfo } from './project-access.ts';

export const InputField = Type.Object({ name: Type.String(), type: Type.String({ enum: [...INPUT_FIELD_TYPES] }), required: Type.Boolean() }, { title: 'InputField' });
export const OutputField = Type.Object({ name: Type.String(), type: Type.String({ enum: [...OUTPUT_FIELD_TYPES] }), options: Type.Optional(Type.Array(Type.String())) }, { title: 'OutputField' });
export const ProjectBody = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  slug: Type.String(),
  description: Type.String(),
  instructionsUrl: Nullable(Type.String()),
  role: Type.String({ enum: ['admin', 'manager', 'member'], description: 'Your role in this project (an instance admin who is not a member: admin)' }),
  settings: Type.Object({
    autoAssign: Type.Boolean(),
    queueSize: Type.Integer(),
    reservationMinutes: Type.Integer(),
    autoArchiveAfterDays: Nullable(Type.Integer()),
  }, { title: 'ProjectSettings' }),
  inputSchema: Type.Array(InputField),
  outputSchema: Type.Array(OutputField),
  createdAt: Type.String({ format: 'date-time' }),
}, { title: 'Project' });
export const StageBody = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String({ enum: ['label', 'review', 'ground_truth'] }),
  position: Type.Integer(),
  reviewPercent: Type.Integer({ minimum: 0, maximum: 100, description: 'Review stages: the share of tasks sampled into it (0 disables it); 100 for the other stages' }),
}, { title: 'Stage' });

export const toProject = (project: IProject, role: string) => ({
  id: project.id,
  name: project.name,
  slug: project.slug,
  description: project.description,
  instructionsUrl: project.instructionsUrl ?? null,
  role,
  settings: {
    autoAssign: project.autoAssign,
    queueSize: project.queueSize,
    reservationMinutes: project.reservationMinutes,
    autoArchiveAfterDays: project.autoArchiveAfterDays ?? null,
  },
  inputSchema: project.inputSchema,
  outputSchema: project.outputSchema,
  createdAt: project.createdAt.toISOString(),
});
export const toStage = (s: StageInfo) => ({ id: s.id, name: s.name, kind: s.kind, position: s.position, reviewPercent: s.reviewPercent });

/** Who the token is, and the projects it can see (outside the project scope). */
const projectsApi: FastifyPluginAsyncTypebox = async (fastify) => {

  fastify.get('/me', {
    schema: {
      tags: ['account'], operationId: 'getMe', summary: 'The user this token belongs to',
      response: { 200: Type.Object({ id: Type.Integer(), email: Type.String(), name: Type.String(), isAdmin: Type.Boolean() }, { title: 'Me' }), ...errorResponses(401) },
    },
  }, async (request) => {
    const user = request.requireUser();
    return { id: user.id, email: user.email, name: user.name, isAdmin: user.isAdmin };
  });

  fastify.get('/projects', {
    schema: { tags: ['projects'], operationId: 'listProjects', summary: 'Projects you can access', response: { 200: Type.Object({ items: Type.Array(ProjectBody) }), ...errorResponses(401) } },
  }, async (request) => {
    const list = await request.services.projects.listFor(request.requireUser());
    return { items: list.map((s) => toProject(s.project, s.role)) };
  });
};

export default projectsApi;

/** One project and its stages (in the project scope). */
export const projectApi: FastifyPluginAsyncTypebox = async (fastify) => {
  const errors = errorResponses(401, 404, 422);

  fastify.get('', {
    schema: { tags: ['projects'], operationId: 'getProject', summary: 'One project with its settings and schemas', params: ProjectParams, response: { 200: ProjectBody, ...errors } },
  }, async (request) => toProject(request.access.project, request.access.role));

  fastify.get('/stages', {
    schema: { tags: ['projects'], operationId: 'listStages', summary: 'The stages of a project, in workflow order', params: ProjectParams, response: { 200: Type.Object({ items: Type.Array(StageBody) }), ...errors } },
  }, async (request) => ({ items: request.access.stages.map(toStage) }));
};
