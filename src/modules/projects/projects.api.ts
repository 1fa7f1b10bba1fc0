import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ErrorResponse } from '../system/api.schemas.ts';
import { ProjectParams } from './projects.schemas.ts';
import type { IProject } from './project.entity.ts';
import type { StageInfo } from './project-access.ts';

export const InputField = Type.Object({ name: Type.String(), type: Type.String(), required: Type.Boolean() });
export const OutputField = Type.Object({ name: Type.String(), type: Type.String(), options: Type.Optional(Type.Array(Type.String())) });
export const ProjectBody = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  slug: Type.String(),
  description: Type.String(),
  instructionsUrl: Type.Union([Type.String(), Type.Null()]),
  role: Type.String({ description: 'Your role in this project' }),
  settings: Type.Object({
    autoAssign: Type.Boolean(),
    queueSize: Type.Integer(),
    reservationMinutes: Type.Integer(),
    autoArchiveAfterDays: Type.Union([Type.Integer(), Type.Null()]),
  }),
  inputSchema: Type.Array(InputField),
  outputSchema: Type.Array(OutputField),
  createdAt: Type.String({ format: 'date-time' }),
});
export const StageBody = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String({ enum: ['label', 'review', 'ground_truth'] }),
  position: Type.Integer(),
  reviewPercent: Type.Integer(),
});

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

export default async function projectsApi(fastify: FastifyInstance) {
  const errors = { 401: ErrorResponse, 404: ErrorResponse };

  fastify.get('/me', {
    schema: {
      tags: ['account'], summary: 'The user this token belongs to',
      response: { 200: Type.Object({ id: Type.Integer(), email: Type.String(), name: Type.String(), isAdmin: Type.Boolean() }), ...errors },
    },
  }, async (request) => {
    const user = request.requireUser();
    return { id: user.id, email: user.email, name: user.name, isAdmin: user.isAdmin };
  });

  fastify.get('/projects', {
    schema: { tags: ['projects'], summary: 'Projects you can access', response: { 200: Type.Object({ items: Type.Array(ProjectBody) }), ...errors } },
  }, async (request) => {
    const list = await request.services.projects.listFor(request.requireUser());
    return { items: list.map((s) => toProject(s.project, s.role)) };
  });

  fastify.get('/projects/:projectId', {
    schema: { tags: ['projects'], summary: 'One project with its settings and schemas', params: ProjectParams, response: { 200: ProjectBody, ...errors } },
  }, async (request) => {
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId);
    return toProject(access.project, access.role);
  });

  fastify.get('/projects/:projectId/stages', {
    schema: { tags: ['projects'], summary: 'The stages of a project, in workflow order', params: ProjectParams, response: { 200: Type.Object({ items: Type.Array(StageBody) }), ...errors } },
  }, async (request) => {
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(request.requireUser(), projectId);
    return { items: access.stages.map(toStage) };
  });
}
