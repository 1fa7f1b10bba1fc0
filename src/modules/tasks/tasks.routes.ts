import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ProjectParams } from '../../lib/params.ts';
import { canonicalQuery, parseTaskFilter, PAGE_SIZES, ASSIGNMENT_FILTER_STATUSES, type TaskFilter } from '../selection/task-filter.ts';
import { TASK_STATES } from './task.entity.ts';
import { BULK_ACTIONS } from '../bulk/bulk-actions.ts';
import { filterChips } from './filter-chips.ts';

const TABLE_TARGET = 'task-results';

const tasksRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  /** All tasks: one canonical, bookmarkable URL per view; a fragment for htmx, the page otherwise. */
  fastify.get('/tasks', {
    schema: { params: ProjectParams, querystring: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])) },
  }, async (request, reply) => {
    const user = request.requireUser();
    const { access } = request;
    const { projectId } = request.params;
    const { filter, errors } = parseTaskFilter(request.query);
    const valid = Object.keys(errors).length === 0;
    const base = `/projects/${projectId}/tasks`;
    // a form submitted without JavaScript sends every field, empty ones too: go to the view's one canonical URL
    const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    if (valid && !request.headers['hx-request'] && !sameQuery(rawQuery, canonicalQuery(filter))) {
      const qs = canonicalQuery(filter);
      return reply.redirect(qs ? `${base}?${qs}` : base, 303);
    }
    const scope = { projectId, viewerId: user.id, onlyAssignedToViewer: !access.canManageTasks };
    const result = valid
      ? await request.services.taskList.page(scope, filter)
      : { rows: [], total: 0, capped: false, page: 1 };
    const shown: TaskFilter = { ...filter, page: result.page };
    const url = (overrides: Partial<TaskFilter> = {}) => {
      const qs = canonicalQuery(shown, overrides);
      return qs ? `${base}?${qs}` : base;
    };
    const members = access.canManageTasks && (!request.wantsFragment(TABLE_TARGET) || typeof filter.assignee === 'number')
      ? await request.services.taskList.memberChoices(projectId) : [];
    const chips = filterChips(shown, access.stages, (id) => members.find((m) => m.user.id === id)?.user.name, url);
    const data = {
      title: 'Tasks', access, project: access.project, section: 'tasks', filter: shown, errors, result, url, chips,
      canonical: url(), query: canonicalQuery(shown), pageSizes: PAGE_SIZES,
    };
    const status = valid ? 200 : 422;

    if (request.wantsFragment(TABLE_TARGET)) {
      // htmx pushed the raw form URL: replace it with the canonical one (typing and refreshes after
      // a bulk action replace the history entry instead of adding one)
      // (and a change that leads to the view already shown adds no history entry either)
      const current = request.headers['hx-current-url'] ? new URL(String(request.headers['hx-current-url']), 'http://x') : null;
      const same = current !== null && current.pathname + current.search === data.canonical;
      const replace = same || request.htmx.trigger === 'f-q' || request.htmx.trigger === 'task-refresh';
      reply.header(replace ? 'HX-Replace-Url' : 'HX-Push-Url', data.canonical);
      return reply.render('tasks/_results', data, status);
    }
    return reply.render('tasks/index', {
      ...data, stages: access.stages, members, states: TASK_STATES, statuses: ASSIGNMENT_FILTER_STATUSES, bulkActions: BULK_ACTIONS,
    }, status);
  });
};

export default tasksRoutes;

/** Whether two query strings say the same thing (the order of their parameters aside). */
function sameQuery(a: string, b: string): boolean {
  const pairs = (q: string) => [...new URLSearchParams(q)].map(([k, v]) => `${k}=${v}`).sort().join('&');
  return pairs(a) === pairs(b);
}

