import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { parseForm } from '../../lib/form.ts';
import { ProjectCreateForm, ProjectParams } from './projects.schemas.ts';

const FormBody = Type.Record(Type.String(), Type.Unknown());

export default async function projectsRoutes(fastify: FastifyInstance) {
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

  fastify.get('/projects/:projectId', { schema: { params: ProjectParams } }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(user, projectId);
    const stages = await request.services.projects.stages(access.project);
    return reply.render('projects/show', { title: access.project.name, access, project: access.project, stages, section: 'overview' });
  });
}
