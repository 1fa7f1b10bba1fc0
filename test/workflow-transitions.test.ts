import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProjectAccess } from '../src/modules/projects/project-access.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { DELIVER_TASK } from '../src/modules/workflow/completion.ts';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';
import { postUpload } from './helpers/uploads.ts';

/** A task as the transitions leave it: the workflow columns, read back as people see them. */
interface TaskState {
  stage: string;
  state: string;
  assignee: string | null;
  status: string | null;
  kind: string | null;
  held: boolean;
  issue: boolean;
  delivery: string | null;
  archived: boolean;
}

/** Where a case starts: the task's stage and state and who holds it how. */
interface Before {
  project?: 'reviewed' | 'direct';
  stage?: 'Label' | 'Review_1' | 'Ground Truth';
  state?: string;
  holder?: { user: 'lee' | 'rui'; status?: string; kind?: string; leaseExpired?: boolean };
  held?: boolean;
  delivery?: string | null;
  /** an earlier finalized Label assignment of this user (the labeler a rejection returns to) */
  finalizedBy?: 'lee';
  archived?: boolean;
}

interface Case {
  transition: string;
  before: Before;
  act: (task: number, c: Context) => Promise<unknown>;
  after: Partial<TaskState>;
  /** event kinds written for the task by the transition, in order */
  events: string[];
  /** a path into Ground Truth of a project with a webhook: a delivery job is queued for the task */
  webhook?: boolean;
}

interface Context {
  t: TestApp;
  access: (project?: 'reviewed' | 'direct') => Promise<ProjectAccess>;
  user: (name: 'admin' | 'lee' | 'rui') => IUser;
  projectId: (project?: 'reviewed' | 'direct') => number;
  bulk: (action: string, task: number, raw?: Record<string, string>) => Promise<unknown>;
}

/**
 * Every transition of the workflow module, as a table: the state before, the action (through the
 * services and API the product uses), the state after, the events written, and the side effects
 * (the delivery job of every path into Ground Truth).
 */
describe('Workflow transitions', () => {
  let t: TestApp;
  const users: Record<string, IUser> = {};
  const projects: Record<string, { id: number; stages: Record<string, number> }> = {};
  let received: string[] = [];
  let hook: http.Server;
  let adminToken: string;

  const ctx: Context = {
    get t() { return t; },
    access: (project = 'reviewed') => t.services().projects.access(users.admin, projects[project].id),
    user: (name) => users[name],
    projectId: (project = 'reviewed') => projects[project].id,
    bulk: async (action, task, raw = {}) => {
      const started = await t.services().bulk.start(await ctx.access(), users.admin, action, raw, { ids: [task] });
      if (started.kind !== 'done' || started.outcome.changed !== 1) throw new Error(`bulk ${action} did not change the task: ${JSON.stringify(started)}`);
      return started;
    },
  };

  async function arrange(b: Before): Promise<number> {
    const p = projects[b.project ?? 'reviewed'];
    const [{ id }] = await t.sql<{ id: string }>(
      `insert into tasks (project_id, name, stage_id, state, held, delivery_status) values ($1, 'task-' || gen_random_uuid(), $2, $3, $4, $5) returning id`,
      [p.id, p.stages[b.stage ?? 'Label'], b.state ?? 'new', b.held ?? false, b.delivery ?? null]);
    const task = Number(id);
    if (b.finalizedBy) {
      await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind, finalized_at) values ($1, $2, $3, 'finalized', 'auto', now())`,
        [task, p.stages.Label, users[b.finalizedBy].id]);
    }
    if (b.holder) {
      const { user, status = 'assigned', kind = 'manual', leaseExpired = false } = b.holder;
      const [{ id: assignment }] = await t.sql<{ id: string }>(
        `insert into assignments (task_id, stage_id, user_id, status, kind) values ($1, $2, $3, $4, $5) returning id`,
        [task, p.stages[b.stage ?? 'Label'], users[user].id, status, kind]);
      await t.sql(`update tasks set assignment_id = $2, assignee_id = $3, assignment_status = $4, assignment_kind = $5, has_open_issue = $6,
                   lease_expires_at = case when $7::boolean then now() - interval '1 minute' end where id = $1`,
        [task, assignment, users[user].id, status, kind, status === 'issue', leaseExpired]);
    }
    if (b.archived) {
      const archive = await t.services().bulk.start(await ctx.access(b.project), users.admin, 'archive', {}, { ids: [task] });
      expect(archive.kind).toBe('done');
    }
    return task;
  }

  const state = async (task: number): Promise<TaskState> => (await t.sql<TaskState>(
    `select s.name as stage, t.state, u.name as assignee, t.assignment_status as status, t.assignment_kind as kind, t.held,
            t.has_open_issue as issue, t.delivery_status as delivery, t.archive_id is not null as archived
       from tasks t join stages s on s.id = t.stage_id left join users u on u.id = t.assignee_id where t.id = $1`, [task]))[0];
  const lastEvent = async () => Number((await t.sql<{ id: string }>('select coalesce(max(id), 0) as id from task_events'))[0].id);
  const eventsSince = async (task: number, after: number) =>
    (await t.sql<{ kind: string }>('select kind from task_events where task_id = $1 and id > $2 order by id', [task, after])).map((e) => e.kind);
  const deliveryJobs = async (task: number) =>
    Number((await t.sql<{ n: string }>(`select count(*) as n from pgboss.job where name = $1 and data->>'taskId' = $2`, [DELIVER_TASK, String(task)]))[0].n);

  const work = () => t.services().queue;
  const answers = { answers: {}, version: 0 };

  const cases: Case[] = [
    {
      transition: 'claim (request next hands out the first pool task)',
      before: {},
      act: async (task, c) => {
        const handed = await work().requestNext(await c.access(), c.user('lee'), 'Label');
        expect(handed.map((h) => h.id)).toContain(task);
      },
      after: { assignee: 'lee', status: 'assigned', kind: 'auto', state: 'new' },
      events: ['allocated'],
    },
    {
      transition: 'expire a lease (a lapsed automatic allocation is claimed again)',
      before: { holder: { user: 'rui', kind: 'auto', leaseExpired: true } },
      act: async (task, c) => expect((await work().requestNext(await c.access(), c.user('lee'), 'Label')).map((h) => h.id)).toContain(task),
      after: { assignee: 'lee', status: 'assigned', kind: 'auto' },
      events: ['allocated'],
    },
    {
      transition: 'save',
      before: { holder: { user: 'lee' } },
      act: async (task, c) => work().save(await c.access(), c.user('lee'), task, answers),
      after: { assignee: 'lee', status: 'saved', state: 'in_progress' },
      events: ['answers_saved'],
    },
    {
      transition: 'submit draft',
      before: { holder: { user: 'lee', status: 'saved' }, state: 'in_progress' },
      act: async (task, c) => work().submitDraft(await c.access(), c.user('lee'), task, answers),
      after: { assignee: 'lee', status: 'pending_finalization', state: 'in_progress' },
      events: ['draft_submitted'],
    },
    {
      transition: 'finalize (into a review stage, its pool)',
      before: { holder: { user: 'lee', status: 'saved' }, state: 'in_progress' },
      act: async (task, c) => work().finalize(await c.access(), c.user('lee'), task, {}),
      after: { stage: 'Review_1', state: 'in_progress', assignee: null, status: null, delivery: null },
      events: ['finalized'],
    },
    {
      transition: 'finalize all (every pending draft of the user)',
      before: { holder: { user: 'lee', status: 'pending_finalization' }, state: 'in_progress' },
      act: async (_task, c) => expect(await work().finalizeAll(await c.access(), c.user('lee'))).toBeGreaterThanOrEqual(1),
      after: { stage: 'Review_1', state: 'in_progress', assignee: null },
      events: ['finalized'],
    },
    {
      transition: 'finalize into Ground Truth (no review sampled): the completion step',
      before: { project: 'direct', holder: { user: 'lee', status: 'saved' }, state: 'in_progress' },
      act: async (task, c) => work().finalize(await c.access('direct'), c.user('lee'), task, {}),
      after: { stage: 'Ground Truth', state: 'completed', assignee: null, delivery: 'pending' },
      events: ['finalized'],
      webhook: true,
    },
    {
      transition: 'skip',
      before: { holder: { user: 'lee' } },
      act: async (task, c) => work().skip(await c.access(), c.user('lee'), task),
      after: { assignee: 'lee', status: 'skipped' },
      events: ['skipped'],
    },
    {
      transition: 'raise issue',
      before: { holder: { user: 'lee' } },
      act: async (task, c) => work().raiseIssue(await c.access(), c.user('lee'), task, 'The image is blank'),
      after: { assignee: 'lee', status: 'issue', issue: true },
      events: ['issue_raised'],
    },
    {
      transition: 'resolve issue (back to the same user)',
      before: { holder: { user: 'lee', status: 'issue' } },
      act: async (task, c) => work().resolveIssue(await c.access(), c.user('admin'), task, 'Label what you see'),
      after: { assignee: 'lee', status: 'assigned', issue: false },
      events: ['issue_resolved'],
    },
    {
      transition: 'review accept: the completion step',
      before: { stage: 'Review_1', state: 'in_progress', holder: { user: 'rui' }, finalizedBy: 'lee' },
      act: async (task, c) => work().review(await c.access(), c.user('rui'), task, 'accept', {}),
      after: { stage: 'Ground Truth', state: 'completed', assignee: null, delivery: 'pending' },
      events: ['review_accepted'],
      webhook: true,
    },
    {
      transition: 'review correct: the completion step',
      before: { stage: 'Review_1', state: 'in_progress', holder: { user: 'rui' }, finalizedBy: 'lee' },
      act: async (task, c) => work().review(await c.access(), c.user('rui'), task, 'correct', answers),
      after: { stage: 'Ground Truth', state: 'completed', assignee: null, delivery: 'pending' },
      events: ['review_corrected'],
      webhook: true,
    },
    {
      transition: 'review reject (back to the labeler who finalized it)',
      before: { stage: 'Review_1', state: 'in_progress', holder: { user: 'rui' }, finalizedBy: 'lee' },
      act: async (task, c) => work().review(await c.access(), c.user('rui'), task, 'reject', { reason: 'Missed a box' }),
      after: { stage: 'Label', state: 'rejected', assignee: 'lee', status: 'assigned', kind: 'returned' },
      events: ['review_rejected'],
    },
    {
      transition: 'send to stage → Ground Truth (bulk action): the completion step',
      before: { stage: 'Review_1', state: 'in_progress' },
      act: (task, c) => c.bulk('send_to_stage', task, { stage: String(projects.reviewed.stages['Ground Truth']) }),
      after: { stage: 'Ground Truth', state: 'completed', delivery: 'pending' },
      events: ['sent_to_stage'],
      webhook: true,
    },
    {
      transition: 'send to stage → Ground Truth (API): the completion step',
      before: { holder: { user: 'lee' } },
      act: async (task, c) => {
        const res = await request(t.app.server).post(`/api/v1/projects/${c.projectId()}/tasks/stage`).set('Authorization', `Bearer ${adminToken}`)
          .send({ taskIds: [task], stage: 'Ground Truth' });
        expect(res.status).toBe(200);
      },
      after: { stage: 'Ground Truth', state: 'completed', assignee: null, status: null, delivery: 'pending' },
      events: ['sent_to_stage'],
      webhook: true,
    },
    {
      transition: 'send to stage → a review stage (its pool)',
      before: { holder: { user: 'lee' } },
      act: (task, c) => c.bulk('send_to_stage', task, { stage: String(projects.reviewed.stages.Review_1) }),
      after: { stage: 'Review_1', state: 'new', assignee: null, status: null, delivery: null },
      events: ['sent_to_stage'],
    },
    {
      transition: 'assign',
      before: {},
      act: (task, c) => c.bulk('assign', task, { member: String(c.user('lee').id) }),
      after: { assignee: 'lee', status: 'assigned', kind: 'manual' },
      events: ['assigned'],
    },
    {
      transition: 'unassign',
      before: { holder: { user: 'lee', status: 'saved' } },
      act: (task, c) => c.bulk('unassign', task),
      after: { assignee: null, status: null, kind: null },
      events: ['unassigned'],
    },
    {
      transition: 'reserve',
      before: {},
      act: (task, c) => c.bulk('reserve', task, { member: String(c.user('lee').id) }),
      after: { assignee: 'lee', status: 'assigned', kind: 'reserved' },
      events: ['reserved'],
    },
    {
      transition: 'release',
      before: { holder: { user: 'lee', kind: 'reserved' } },
      act: (task, c) => c.bulk('release', task),
      after: { assignee: null, status: null },
      events: ['released'],
    },
    {
      transition: 'hold',
      before: {},
      act: (task, c) => c.bulk('hold', task),
      after: { held: true },
      events: ['held'],
    },
    {
      transition: 'unhold',
      before: { held: true },
      act: (task, c) => c.bulk('unhold', task),
      after: { held: false },
      events: ['unheld'],
    },
    {
      transition: 'client reject (back to Label and its last labeler)',
      before: { stage: 'Ground Truth', state: 'delivered', delivery: 'delivered', finalizedBy: 'lee' },
      act: async (task, c) => t.services().deliveries.respond(await c.access(), c.user('admin'), [task], { reason: 'Wrong class' }),
      after: { stage: 'Label', state: 'rejected', assignee: 'lee', kind: 'returned', delivery: null },
      events: ['rejected'],
    },
    {
      transition: 'client acknowledge',
      before: { stage: 'Ground Truth', state: 'delivered', delivery: 'delivered' },
      act: async (task, c) => t.services().deliveries.respond(await c.access(), c.user('admin'), [task], null),
      after: { state: 'acknowledged' },
      events: ['acknowledged'],
    },
    {
      transition: 'reset to new',
      before: { stage: 'Review_1', state: 'in_progress' },
      act: (task, c) => c.bulk('reset', task),
      after: { stage: 'Label', state: 'new', assignee: null },
      events: ['reset'],
    },
    {
      transition: 'deliver through the feed (sent, then confirmed by the next cursor)',
      before: { project: 'direct', stage: 'Ground Truth', state: 'completed' },
      act: async (task, c) => {
        const access = await c.access('direct');
        const feed = (cursor: number) => t.services().deliveries.feed(access, c.user('admin'), cursor, 1);
        expect((await feed(task - 1)).map((d) => d.id)).toEqual([task]);
        expect((await t.sql('select state, delivery_status from tasks where id = $1', [task]))[0]).toEqual({ state: 'completed', delivery_status: 'sent' });
        await feed(task);
      },
      after: { state: 'delivered', delivery: 'delivered' },
      events: ['delivered'],
    },
    {
      transition: 'deliver by webhook',
      before: { stage: 'Ground Truth', state: 'completed', delivery: 'pending' },
      act: async (task) => {
        expect(await t.services().deliveries.deliverNow(task)).toBe('delivered');
        expect(received).toContain('/hook');
      },
      after: { state: 'delivered', delivery: 'delivered' },
      events: ['delivered'],
    },
    {
      transition: 'archive',
      before: { holder: { user: 'lee' } },
      act: (task, c) => c.bulk('archive', task),
      after: { archived: true, assignee: null },
      events: ['archived'],
    },
    {
      transition: 'restore',
      before: { archived: true },
      act: async (task, c) => {
        const [{ archive_id }] = await t.sql<{ archive_id: string }>('select archive_id from tasks where id = $1', [task]);
        expect(await t.services().archives.restore(await c.access(), c.user('admin'), Number(archive_id))).toEqual({ restored: 1, clashes: 0 });
      },
      after: { archived: false },
      events: ['restored'],
    },
  ];

  beforeAll(async () => {
    // no workers: the delivery jobs the transitions queue stay in the queue to be counted
    t = await createTestApp({ RUN_WORKERS: 'false' });
    users.admin = await createAdmin(t);
    adminToken = (await t.services().apiTokens.create(users.admin, 'admin')).token;
    for (const name of ['lee', 'rui']) users[name] = (await t.services().users.create({ email: `${name}@example.org`, name, password: 'correct horse battery' })).user;
    hook = http.createServer((req, res) => {
      received.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    for (const [key, percent] of [['reviewed', 100], ['direct', 0]] as const) {
      const p = await t.services().projects.create(users.admin, { name: `Workflow ${key}`, reviewStages: 1 });
      await t.sql(`update stages set review_percent = $2 where project_id = $1 and kind = 'review'`, [p.id, percent]);
      for (const name of ['lee', 'rui']) await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [p.id, users[name].id]);
      const stages: Record<string, number> = {};
      for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [p.id])) stages[row.name] = Number(row.id);
      projects[key] = { id: p.id, stages };
      await t.services().deliveries.updateWebhook(await t.services().projects.access(users.admin, p.id), users.admin, { url, allowedHosts: '127.0.0.1' });
    }
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => hook.close(() => resolve()));
    await t.close();
  });

  it.each(cases.map((c) => [c.transition, c] as const))('%s', async (_name, c) => {
    received = [];
    // earlier cases' tasks are held: out of every queue, so request next sees this case's task only
    await t.sql('update tasks set held = true');
    const task = await arrange(c.before);
    const since = await lastEvent();
    await c.act(task, ctx);
    expect(await state(task)).toMatchObject(c.after);
    expect(await eventsSince(task, since)).toEqual(c.events);
    expect(await deliveryJobs(task)).toBe(c.webhook ? 1 : 0);
  });

  it('create (upload): a new task in Label, in the pool, with its creation in its history', async () => {
    const res = await postUpload(t, adminToken, projects.reviewed.id, 'name\nuploaded-1\n', 'one.csv');
    expect(res.status).toBe(202);
    await t.services().uploads.processNow(res.body.id, t.app.log);
    const [{ id }] = await t.sql<{ id: string }>(`select id from tasks where name = 'uploaded-1'`);
    expect(await state(Number(id))).toMatchObject({ stage: 'Label', state: 'new', assignee: null, status: null, held: false, archived: false });
    const history = await request(t.app.server).get(`/api/v1/projects/${projects.reviewed.id}/tasks/${id}`).set('Authorization', `Bearer ${adminToken}`);
    expect(history.status).toBe(200);
  });

  it('one module writes task state: no other module runs task, assignment or event writes', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('grep', ['-rlE', 'update tasks |insert into (task_events|assignments)|update assignments', 'src/modules'], { encoding: 'utf8' });
    const writers = out.trim().split('\n').filter((f) => !f.startsWith('src/modules/workflow/'));
    expect(writers).toEqual([]);
  });
});
