import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { HttpError, unprocessable } from '../../lib/errors.ts';
import { FormBody } from '../../lib/form.ts';
import { heldByFilter } from '../selection/task-selection.ts';
import { parseId, parseIdList } from '../../lib/strict-numbers.ts';
import { outcomeSentence } from '../bulk/bulk-actions.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectParams, TaskParams } from '../../lib/params.ts';
import { formErrors, type RequestOf } from '../../plugins/app/form-errors.ts';
import type { IUser } from '../users/user.entity.ts';
import { answerViews } from '../tasks/task-detail.service.ts';
import { answerKey, parseAnswers } from './answers.ts';
import { paged, PageQuery } from '../../lib/pagination.ts';
import type { QueueCounts, QueueRow } from './queue.repository.ts';
import type { WorkView } from './queue.service.ts';

const ReservationsQuery = Type.Object({ user: Type.Optional(Type.Integer({ minimum: 1 })) });
/** The work page's buttons (each posts to its own resource, see the routes below). */
type WorkAction = 'save' | 'submit' | 'finalize' | 'skip' | 'issue' | 'accept' | 'reject' | 'correct';

/** Keyboard shortcuts of the work page (HTML `accesskey`: Alt+key in Chrome and Edge, Alt+Shift+key in Firefox). */
export const SHORTCUTS: { key: string; action: WorkAction; label: string; review: boolean | null }[] = [
  { key: 's', action: 'save', label: 'Save', review: null },
  { key: 'd', action: 'submit', label: 'Submit draft', review: false },
  { key: 'f', action: 'finalize', label: 'Finalize', review: false },
  { key: 'a', action: 'accept', label: 'Accept', review: true },
  { key: 'c', action: 'correct', label: 'Correct (save edits and accept)', review: true },
  { key: 'r', action: 'reject', label: 'Reject (with a reason)', review: true },
  { key: 'k', action: 'skip', label: 'Skip', review: null },
  { key: 'i', action: 'issue', label: 'Raise issue (with a comment)', review: null },
];

/** What a form control sent, as the form shows it again. */
const typedValue = (type: string, v: unknown): string | string[] =>
  type === 'multi_choice' ? (Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)]) : typeof v === 'string' ? v : '';
const text = (v: unknown) => (typeof v === 'string' ? v : '');

/** My queue on one page of the My queue list */
const QUEUE_PAGE_SIZE = 50;
/** the next tasks the work page shows beside the task (the page stays small whatever the queue) */
const WORK_PAGE_NEXT = 5;

/** The SPEC §4 groups of My queue: their whole size, and the rows of this page that belong to each. */
function groups(rows: QueueRow[], counts: QueueCounts) {
  return [
    { id: 'open', title: 'Assigned and saved', total: counts.open, rows: rows.filter((r) => r.status === 'assigned' || r.status === 'saved') },
    { id: 'pending', title: 'Pending finalization', total: counts.pending, rows: rows.filter((r) => r.status === 'pending_finalization') },
    { id: 'skipped', title: 'Skipped', total: counts.skipped, rows: rows.filter((r) => r.status === 'skipped') },
  ];
}

const WorkSchema = { params: TaskParams, body: FormBody };

/** A work action refused (a stale version, an answer not valid): the form again with what was typed, nothing is lost. */
const workErrors = formErrors(WorkSchema, {
  statuses: [409, 422],
  render: async (request, reply, err) => {
    const { access, body } = request;
    const user = request.requireUser();
    const view = await request.services.queue.view(access, user, request.params.taskId);
    const schema = access.project.outputSchema ?? [];
    const details = (err.details ?? {}) as Record<string, unknown>;
    const conflict = err.statusCode === 409 && 'currentVersion' in details
      ? { version: Number(details.currentVersion), theirs: parseAnswers(schema, details.theirs ?? {}).answers }
      : null;
    view.fields = schema.map((field) => ({
      field,
      value: typedValue(field.type, body[answerKey(field.name)]),
      error: err.statusCode === 422 ? (details[field.name] as string | undefined) : undefined,
    }));
    if (conflict) view.version = conflict.version;
    return renderWork(request, reply, access, user, view, {
      status: err.statusCode, error: err.message, conflict, reason: text(body.reason), comment: text(body.comment),
      conflictAnswers: conflict ? answerViews(schema, conflict.theirs) : [],
    });
  },
});

/** My queue, the work page, issues and reservations (SPEC §4, §5). */
const queueRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/queue', { schema: { params: ProjectParams, querystring: PageQuery } }, async (request, reply) => {
    const { access } = request;
    const user = request.requireUser();
    const page = request.query.page ?? 1;
    const queue = await request.services.queue.myQueue(access, user, { page, size: QUEUE_PAGE_SIZE });
    const stages = request.services.queue.workStages(access);
    return reply.render('queue/index', {
      title: `My queue · ${access.project.name}`, access, project: access.project, section: 'queue', stages,
      groups: groups(queue.rows, queue.counts), total: queue.total, pager: paged(queue.rows, queue.total, page, QUEUE_PAGE_SIZE),
    });
  });

  /** The Label / Review buttons: hand out work and open the first task. */
  fastify.post('/queue/next', { schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    return openNext(request, reply, request.access, request.requireUser(), text(request.body.stage), []);
  });

  fastify.post('/queue/finalization', { schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const { access } = request;
    const n = await request.services.queue.finalizeAll(access, request.requireUser());
    reply.flash('success', n === 1 ? '1 draft finalized.' : `${n} drafts finalized.`);
    return reply.redirect(`/projects/${access.project.id}/queue`, 303);
  });

  fastify.get('/work/:taskId', { schema: { params: TaskParams } }, async (request, reply) => {
    const { access } = request;
    const user = request.requireUser();
    const view = await request.services.queue.view(access, user, request.params.taskId);
    return renderWork(request, reply, access, user, view);
  });

  // ── the work page's actions: one resource each, as in the API (its buttons post with formaction) ──
  const work = { schema: WorkSchema, config: { formErrors: workErrors } };
  /** What the form sent as answers, with the version they start from. */
  const answerInput = (body: Record<string, unknown>) => ({
    answers: body, version: /^\d{1,9}$/.test(text(body.version)) ? Number(text(body.version)) : undefined, fromForm: true,
  });

  /**
   * An action that ends the user's turn on the task: done, it is said in a flash and the next task
   * of the same stage opens (never the one just left).
   */
  type Done = { kind: 'success' | 'info'; message: string };
  const finishing = (path: string, act: (request: RequestOf<typeof WorkSchema>, user: IUser, taskId: number) => Promise<Done>) =>
    fastify.post(`/work/:taskId/${path}`, work, async (request, reply) => {
      const { access } = request;
      const user = request.requireUser();
      const { taskId } = request.params;
      const stageId = (await request.services.queue.view(access, user, taskId)).stage.id;
      const done = await act(request, user, taskId);
      reply.flash(done.kind, done.message);
      return openNext(request, reply, access, user, String(stageId), [taskId], true);
    });

  fastify.post('/work/:taskId/answers', work, async (request, reply) => {
    const { access } = request;
    const user = request.requireUser();
    const { taskId } = request.params;
    await request.services.queue.view(access, user, taskId); // 404 for a task the user cannot see
    const saved = await request.services.queue.save(access, user, taskId, answerInput(request.body));
    reply.flash('success', `Saved (version ${saved.version}).`);
    return reply.redirect(`/projects/${access.project.id}/work/${taskId}`, 303);
  });

  finishing('submission', async (request, user, taskId) => {
    await request.services.queue.submitDraft(request.access, user, taskId, answerInput(request.body));
    return { kind: 'success', message: `Draft of task ${taskId} submitted; finalize it from My queue.` };
  });

  finishing('finalization', async (request, user, taskId) => {
    await request.services.queue.finalize(request.access, user, taskId, answerInput(request.body));
    return { kind: 'success', message: `Task ${taskId} finalized.` };
  });

  finishing('skip', async (request, user, taskId) => {
    await request.services.queue.skip(request.access, user, taskId);
    return { kind: 'info', message: `Task ${taskId} skipped: it waits at the end of your queue.` };
  });

  finishing('issue', async (request, user, taskId) => {
    await request.services.queue.raiseIssue(request.access, user, taskId, text(request.body.comment));
    return { kind: 'info', message: `Issue raised on task ${taskId}: an admin or manager will answer it.` };
  });

  /** A review stage's decision: accept as is, correct (the edited answers, accepted) or reject with a reason. */
  finishing('review', async (request, user, taskId) => {
    const { body } = request;
    const queue = request.services.queue;
    switch (text(body.decision)) {
      case 'accept':
        await queue.review(request.access, user, taskId, 'accept', {});
        return { kind: 'success', message: `Task ${taskId} accepted.` };
      case 'correct':
        await queue.review(request.access, user, taskId, 'correct', answerInput(body));
        return { kind: 'success', message: `Task ${taskId} corrected and accepted.` };
      case 'reject':
        await queue.review(request.access, user, taskId, 'reject', { reason: text(body.reason) });
        return { kind: 'success', message: `Task ${taskId} rejected and sent back to its labeler.` };
      default:
        throw unprocessable('Choose accept, correct or reject');
    }
  });

  fastify.get('/issues', { schema: { params: ProjectParams } }, async (request, reply) => {
    const { access } = request;
    const issues = await request.services.queue.issues(access);
    return reply.render('queue/issues', { title: `Issues · ${access.project.name}`, access, project: access.project, section: 'issues', issues });
  });

  // an answer that cannot be given is said on the Issues page (a task that is gone is a 404)
  const issueErrors = formErrors({ params: TaskParams }, { statuses: [403, 409, 422], back: (request) => `/projects/${request.params.projectId}/issues` });

  fastify.post('/issues/:taskId', { schema: { params: TaskParams, body: FormBody }, config: { formErrors: issueErrors } }, async (request, reply) => {
    const { taskId } = request.params;
    await request.services.queue.resolveIssue(request.access, request.requireUser(), taskId, text(request.body.response));
    reply.flash('success', `Issue on task ${taskId} answered; the task is back in its assignee's queue.`);
    return reply.redirect(`/projects/${request.params.projectId}/issues`, 303);
  });

  fastify.get('/reservations', { config: { role: 'manager' }, schema: { params: ProjectParams, querystring: ReservationsQuery } }, async (request, reply) => {
    const { access } = request;
    const holders = await request.services.queue.holders(access);
    const expanded = request.query.user;
    const held = expanded ? await request.services.queue.heldBy(access, expanded) : [];
    return reply.render('queue/reservations', { title: `Reservations · ${access.project.name}`, access, project: access.project, section: 'reservations', holders, expanded, held });
  });

  fastify.post('/reservations/release', { config: { role: 'manager' }, schema: { params: ProjectParams, body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const { access, body } = request;
    const { projectId } = request.params;
    // a target that cannot be read releases nothing: the release never widens to the whole project
    const userId = text(body.user) === '' ? null : parseId(text(body.user));
    const ids = parseIdList(body.ids);
    if (userId === null && text(body.user) !== '') throw unprocessable('No such user', { user: 'must be the id of a user' });
    if (ids === null) throw unprocessable('A task id is not valid', { ids: 'must be task ids' });
    const back = `/projects/${projectId}/reservations${userId && ids.length ? `?user=${userId}` : ''}`;
    if (!ids.length && !userId) {
      reply.flash('error', 'Choose whose tasks to release.');
      return reply.redirect(back, 303);
    }
    const selection = ids.length ? { ids } : { filter: heldByFilter(userId!), excluded: [] };
    const started = await request.services.bulk.start(access, user, 'release', {}, selection);
    if (started.kind === 'queued') return reply.redirect(`/projects/${projectId}/bulk/${started.operation.id}`, 303);
    reply.flash('success', outcomeSentence('Release', started.outcome.changed, started.outcome.skipped));
    return reply.redirect(back, 303);
  });
};

export default queueRoutes;

async function openNext(request: FastifyRequest, reply: FastifyReply, access: ProjectAccess, user: IUser, stageRef: string, exclude: number[], after = false) {
  const base = `/projects/${access.project.id}`;
  let tasks: Array<{ id: number }>;
  try {
    tasks = await request.services.queue.requestNext(access, user, stageRef, { exclude });
  } catch (err) {
    if (!(err instanceof HttpError) || err.statusCode >= 500) throw err;
    reply.flash('error', err.message);
    return reply.redirect(`${base}/queue`, 303);
  }
  if (tasks.length) return reply.redirect(`${base}/work/${tasks[0].id}`, 303);
  if (!after) reply.flash('info', access.project.autoAssign ? 'No task is waiting in this stage right now.' : 'Nothing is assigned to you in this stage (auto-assignment is off in this project).');
  return reply.redirect(`${base}/queue`, 303);
}

async function renderWork(request: FastifyRequest, reply: FastifyReply, access: ProjectAccess, user: IUser, view: WorkView, extra: Record<string, unknown> & { status?: number } = {}) {
  // the next few tasks other than this one, and the size of each group
  const queue = await request.services.queue.myQueue(access, user, { size: WORK_PAGE_NEXT + 1 });
  const next = queue.rows.filter((r) => r.id !== view.task.id).slice(0, WORK_PAGE_NEXT);
  const shortcuts = SHORTCUTS.filter((s) => s.review === null || s.review === view.isReview);
  return reply.render('queue/work', {
    title: `${view.task.name} · ${access.project.name}`, access, project: access.project, section: 'queue', view, shortcuts,
    queue: { next, counts: queue.counts, total: queue.total },
    error: null, conflict: null, conflictAnswers: [], reason: '', comment: '', ...extra,
  }, extra.status ?? 200);
}
