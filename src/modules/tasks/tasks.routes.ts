import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { ProjectParams } from '../projects/projects.schemas.ts';
import { canonicalQuery, parseTaskFilter, PAGE_SIZES, ASSIGNMENT_FILTER_STATUSES, type TaskFilter } from '../selection/task-filter.ts';
import { TASK_STATES } from './task.entity.ts';
import { BULK_ACTIONS } from '../bulk/bulk-actions.ts';

const TABLE_TARGET = 'task-results';

export default async function tasksRoutes(fastify: FastifyInstance) {
  /** All tasks: one canonical, bookmarkable URL per view; a fragment for htmx, the page otherwise. */
  fastify.get('/projects/:projectId/tasks', {
    schema: { params: ProjectParams, querystring: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])) },
  }, async (request, reply) => {
    const user = request.requireUser();
    const { projectId } = request.params as { projectId: number };
    const access = await request.services.projects.access(user, projectId);
    const { filter, errors } = parseTaskFilter(request.query as Record<string, string | string[]>);
    const valid = Object.keys(errors).length === 0;
    const scope = { projectId, viewerId: user.id, onlyAssignedToViewer: !access.canManageTasks };
    const result = valid
      ? await request.services.taskList.page(scope, filter)
      : { rows: [], total: 0, capped: false, page: 1 };
    const shown: TaskFilter = { ...filter, page: result.page };
    const base = `/projects/${projectId}/tasks`;
    const url = (overrides: Partial<TaskFilter> = {}) => {
      const qs = canonicalQuery(shown, overrides);
      return qs ? `${base}?${qs}` : base;
    };
    const data = {
      title: 'Tasks', access, project: access.project, section: 'tasks', filter: shown, errors, result, url,
      canonical: url(), query: canonicalQuery(shown), pageSizes: PAGE_SIZES,
    };
    const status = valid ? 200 : 422;

    if (request.wantsFragment(TABLE_TARGET)) {
      // htmx pushed the raw form URL: replace it with the canonical one (typing and refreshes after
      // a bulk action replace the history entry instead of adding one)
      const replace = request.htmx.trigger === 'f-q' || request.htmx.trigger === 'task-refresh';
      reply.header(replace ? 'HX-Replace-Url' : 'HX-Push-Url', data.canonical);
      return reply.render('tasks/_results', data, status);
    }
    const stages = access.stages;
    const members = access.canManageTasks ? await request.services.taskList.memberChoices(projectId) : [];
    return reply.render('tasks/index', {
      ...data, stages, members, states: TASK_STATES, statuses: ASSIGNMENT_FILTER_STATUSES, bulkActions: BULK_ACTIONS,
    }, status);
  });
}
