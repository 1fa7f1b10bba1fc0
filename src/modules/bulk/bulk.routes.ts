import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { FormBody } from '../../lib/form.ts';
import { OperationParams, ProjectParams } from '../../lib/params.ts';
import { exportStartedMessage } from '../exports/exports.routes.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { selectionFromForm, taskListUrl } from '../selection/task-selection.ts';
import { bulkAction, describeOutcome, outcomeSentence } from './bulk-actions.ts';

const OUTCOME_TARGET = 'bulk-outcome';
const PROGRESS_TARGET = 'bulk-progress';

/** Bulk actions of the task list: run at once, or start a job and show its progress. */
const BulkSchema = { params: ProjectParams, body: FormBody };

/** A user mistake is said where the action was asked for; nothing has changed. */
const bulkErrors = formErrors(BulkSchema, {
  statuses: 'any',
  render: async (request, reply, err) => {
    if (request.wantsFragment(OUTCOME_TARGET)) return reply.render('bulk/_outcome', { error: err.message }, err.statusCode);
    reply.flash('error', err.message);
    return reply.redirect(taskListUrl(request.params.projectId, request.body), 303);
  },
});

const bulkRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/tasks/bulk', { schema: BulkSchema, config: { formErrors: bulkErrors } }, async (request, reply) => {
    const user = request.requireUser();
    const { access, body } = request;
    const projectId = access.project.id;
    const fragment = request.wantsFragment(OUTCOME_TARGET);

    const selection = selectionFromForm(body);
    if (body.action === 'export') {
      const started = await request.services.exports.start(access, user, String(body.format ?? ''), selection);
      const exportsUrl = `/projects/${projectId}/exports`;
      if (fragment) return reply.render('bulk/_outcome', { title: 'Export', exportId: started.id, exportsUrl });
      reply.flash('success', exportStartedMessage(started.id));
      return reply.redirect(exportsUrl, 303);
    }
    const started = await request.services.bulk.start(access, user, String(body.action ?? ''), body, selection);
    if (started.kind === 'queued') {
      const url = `/projects/${projectId}/bulk/${started.operation.id}`;
      if (fragment) return reply.render('bulk/_progress', { operation: started.operation, actionTitle: bulkAction(started.operation.action)?.title, url });
      return reply.redirect(url, 303);
    }
    const { outcome } = started;
    const summary = describeOutcome(outcome.changed, outcome.skipped);
    if (fragment) {
      reply.header('HX-Trigger', 'tasks-changed');
      return reply.render('bulk/_outcome', { title: outcome.action.title, summary });
    }
    reply.flash('success', outcomeSentence(outcome.action.title, outcome.changed, outcome.skipped));
    return reply.redirect(taskListUrl(projectId, body), 303);
  });

  /** A bulk job's progress: the page (no JavaScript: it refreshes itself) or the polling widget. */
  fastify.get('/bulk/:operationId', { config: { role: 'manager' }, schema: { params: OperationParams } }, async (request, reply) => {
    const { access } = request;
    const { projectId, operationId } = request.params;
    const operation = await request.services.bulk.operation(access, operationId);
    const url = `/projects/${projectId}/bulk/${operationId}`;
    const finished = operation.status === 'completed' || operation.status === 'failed';
    const data = { project: access.project, operation, url, interrupted: await request.services.bulk.isInterrupted(operation), actionTitle: bulkAction(operation.action)?.title ?? operation.action,
      summary: describeOutcome(operation.changed, operation.skipped) };
    if (request.wantsFragment(PROGRESS_TARGET)) {
      if (finished) reply.header('HX-Trigger', 'tasks-changed');
      return reply.render('bulk/_progress', data);
    }
    return reply.render('bulk/show', { ...data, title: 'Bulk action', access, section: 'tasks', refresh: !finished });
  });
};

export default bulkRoutes;
