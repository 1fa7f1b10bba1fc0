import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import type { ProjectRole } from '../../modules/members/project-member.entity.ts';
import type { ProjectAccess } from '../../modules/projects/project-access.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The user's access to the project of a route inside the project scope (loaded before its handler). */
    access: ProjectAccess;
  }
  interface FastifyContextConfig {
    /** The least project role a route inside the project scope needs (default: member). */
    role?: ProjectRole;
  }
}

/**
 * The routes of one project, registered under `/projects/:projectId` (pages and API): the user's
 * access is loaded once per request, after the request is validated and before the handler.
 * Outside the user's access → 404; lacking the route's `config.role` → 403 naming the role.
 * Routes with `config.tokenAccess` read the token and the access in their own statement.
 */
export default fp(
  async function projectScope(fastify) {
    fastify.decorateRequest('access', null as unknown as ProjectAccess);

    // a route without a validated projectId would look the project up by a raw string
    fastify.addHook('onRoute', (route) => {
      const params = route.schema?.params as { properties?: Record<string, unknown> } | undefined;
      if (!params?.properties?.projectId) throw new Error(`${route.method} ${route.url}: a project route declares projectId in its params schema`);
    });

    fastify.addHook<{ Params: { projectId: number } }>('preHandler', async (request) => {
      const { config } = request.routeOptions;
      if (config.tokenAccess) return;
      // set before the role check: a 403 page still shows the project the user can see
      request.access = await request.services.projects.access(request.requireUser(), request.params.projectId);
      request.access.require(config.role ?? 'member');
    });
  },
  { name: 'project-scope', dependencies: ['services', 'auth'] },
);

/**
 * The access for an error page under `/projects/:id`: the one the scope loaded, else (the request
 * failed before the scope ran, e.g. its query was not valid) the user's, if any. Never throws.
 */
export async function errorPageAccess(request: FastifyRequest, projectId: number): Promise<ProjectAccess | null> {
  // outside the scope the decorator does not exist
  const loaded = request.access as ProjectAccess | null | undefined;
  if (loaded) return loaded;
  if (!request.user) return null;
  return request.services.projects.access(request.user, projectId).catch(() => null);
}
