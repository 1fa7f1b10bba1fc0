import type { FastifyInstance } from 'fastify';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';

/** Allocation (SPEC §4): order, concurrency over two app instances, leases, manual assignments, access. */
describe('Labeling queue allocation', () => {
  let t: TestApp;
  let second: FastifyInstance;
  let admin: IUser;
  let adminToken: string;
  const tokens = new Map<string, string>();
  const userIds = new Map<string, number>();

  const api = (method: 'get' | 'post' | 'put', path: string, token: string, app: FastifyInstance = t.app) =>
    request(app.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${token}`);

  /** A user without password (fast) with an API token, optionally a member of projects. */
  async function user(email: string): Promise<string> {
    if (tokens.has(email)) return tokens.get(email)!;
    const s = t.services();
    const { user: u } = await s.users.create({ email, name: email.split('@')[0] });
    const token = (await s.apiTokens.create(u, 'test')).token;
    tokens.set(email, token);
    userIds.set(email, u.id);
    return token;
  }

  async function project(name: string, { reviewStages = 0, members = [] as string[], settings = {} as Record<string, unknown> } = {}) {
    const s = t.services();
    const p = await s.projects.create(admin, { name, reviewStages });
    for (const email of members) {
      await user(email);
      await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [p.id, userIds.get(email)]);
    }
    const cols = Object.entries(settings);
    if (cols.length) await t.sql(`update projects set ${cols.map(([k], i) => `${k} = $${i + 2}`).join(', ')} where id = $1`, [p.id, ...cols.map(([, v]) => v)]);
    const stages: Record<string, number> = {};
    for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [p.id])) stages[row.name] = Number(row.id);
    return { id: p.id, stages };
  }

  type Row = { name: string; priority?: number; score?: number | null; ageHours?: number };
  async function tasks(projectId: number, stageId: number, rows: Row[]) {
    for (const r of rows) {
      await t.sql(
        `insert into tasks (project_id, name, stage_id, priority, priority_score, created_at) values ($1, $2, $3, $4, $5, now() - make_interval(hours => $6))`,
        [projectId, r.name, stageId, r.priority ?? 0, r.score ?? null, r.ageHours ?? 0],
      );
    }
  }
  const taskId = async (projectId: number, name: string) =>
    Number((await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = $2', [projectId, name]))[0].id);
  const taskRow = async (projectId: number, name: string) =>
    (await t.sql<Record<string, any>>(`select t.*, s.name as stage_name from tasks t join stages s on s.id = t.stage_id where t.project_id = $1 and t.name = $2`, [projectId, name]))[0];
  const bulk = async (projectId: number, action: string, names: string[], params: Record<string, unknown> = {}) => {
    const s = t.services();
    const access = await s.projects.access(admin, projectId);
    const ids = await Promise.all(names.map((n) => taskId(projectId, n)));
    return s.bulk.start(access, admin, action, params, { ids });
  };

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    adminToken = (await t.services().apiTokens.create(admin, 'admin')).token;
    // a second application process on the same database, as `npm start` would run it
    const config = loadConfig({ LOG_LEVEL: 'silent', SESSION_SECRET: 'test-secret-test-secret-test-secret-42', RUN_WORKERS: 'false' });
    second = await buildApp({ config, databaseUrl: t.databaseUrl });
    await second.ready();
  });
  afterAll(async () => {
    await second?.close();
    await t.close();
  });

  /** Requests work and finalizes it until nothing is left; the names in the order they were handed out. */
  async function drain(projectId: number, token: string, stage = 'Label'): Promise<string[]> {
    const order: string[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await api('post', `/projects/${projectId}/stages/${stage}/next`, token);
      expect(res.status).toBe(200);
      const [first] = res.body.items;
      if (!first) break;
      order.push(first.name);
      const done = await api('post', `/projects/${projectId}/tasks/${first.id}/finalization`, token).send({});
      expect(done.status).toBe(200);
    }
    return order;
  }

  const cases: { title: string; rows: Row[]; arrange?: (projectId: number, me: string) => Promise<void>; expected: string[] }[] = [
    { title: 'priority ascending (lower first, negative allowed)', rows: [{ name: 'a', priority: 2 }, { name: 'b', priority: -1 }, { name: 'c', priority: 0 }], expected: ['b', 'c', 'a'] },
    { title: 'within a priority, score descending', rows: [{ name: 'a', score: 0.2 }, { name: 'b', score: 0.9 }, { name: 'c', score: 0.5 }], expected: ['b', 'c', 'a'] },
    { title: 'missing score after any score', rows: [{ name: 'a', score: null }, { name: 'b', score: 0 }, { name: 'c', score: 0.000000001 }], expected: ['c', 'b', 'a'] },
    { title: 'priority before score', rows: [{ name: 'a', priority: 1, score: 1 }, { name: 'b', priority: 0, score: null }], expected: ['b', 'a'] },
    { title: 'then oldest first', rows: [{ name: 'a', ageHours: 3 }, { name: 'b', ageHours: 5 }, { name: 'c', ageHours: 1 }], expected: ['b', 'a', 'c'] },
    { title: 'then id', rows: [{ name: 'a', ageHours: 2 }, { name: 'b', ageHours: 2 }, { name: 'c', ageHours: 2 }], expected: ['a', 'b', 'c'] },
    {
      title: 'own assigned and reserved tasks before the pool, whatever their priority',
      rows: [{ name: 'pool', priority: -9 }, { name: 'mine', priority: 9 }, { name: 'kept', priority: 5 }],
      arrange: async (projectId, me) => {
        await bulk(projectId, 'assign', ['mine'], { member: String(userIds.get(me)) });
        await bulk(projectId, 'reserve', ['kept'], { member: String(userIds.get(me)) });
      },
      expected: ['kept', 'mine', 'pool'],
    },
    {
      title: 'own skipped tasks after own assigned ones, before the pool',
      rows: [{ name: 'pool', priority: 0 }, { name: 'skipped', priority: -9 }, { name: 'mine', priority: 9 }],
      arrange: async (projectId, me) => {
        await bulk(projectId, 'assign', ['mine', 'skipped'], { member: String(userIds.get(me)) });
        const res = await api('post', `/projects/${projectId}/tasks/${await taskId(projectId, 'skipped')}/skip`, tokens.get(me)!);
        expect(res.status).toBe(200);
      },
      expected: ['mine', 'skipped', 'pool'],
    },
  ];

  it.each(cases.map((c, i) => [c.title, i] as const))('orders work: %s', async (_title, i) => {
    const c = cases[i];
    const me = `order${i}@example.org`;
    const token = await user(me);
    const p = await project(`Order ${i}`, { members: [me] });
    await tasks(p.id, p.stages.Label, c.rows);
    await c.arrange?.(p.id, me);
    expect(await drain(p.id, token)).toEqual(c.expected);
  });

  it('64 parallel requests from 64 users over two app instances never hand one task twice', async () => {
    const emails = Array.from({ length: 64 }, (_, i) => `crowd${i}@example.org`);
    const crowd = await Promise.all(emails.map((e) => user(e)));
    // 1) a pool larger than the crowd: every user gets one, all different
    const big = await project('Crowd', { members: emails });
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, 'c-' || n, $2 from generate_series(1, 100) n`, [big.id, big.stages.Label]);
    const results = await Promise.all(crowd.map((token, i) => api('post', `/projects/${big.id}/stages/Label/next`, token, i % 2 ? second : t.app)));
    expect(results.map((r) => r.status)).toEqual(Array(64).fill(200));
    const handed = results.map((r) => r.body.items.map((x: { id: number }) => x.id));
    expect(handed.every((ids) => ids.length === 1)).toBe(true);
    expect(new Set(handed.flat()).size).toBe(64);
    // the 64 best tasks of the pool (priority 0, same age → by id) went out
    const [{ n }] = await t.sql<{ n: number }>(`select count(distinct assignee_id)::int as n from tasks where project_id = $1 and assignee_id is not null`, [big.id]);
    expect(n).toBe(64);
    const open = await t.sql<{ task_id: string; n: number }>(`select task_id, count(*)::int as n from assignments a join tasks t on t.id = a.task_id where t.project_id = $1 group by task_id having count(*) > 1`, [big.id]);
    expect(open).toEqual([]);

    // 2) a pool smaller than the crowd: 40 tasks for 64 users → 40 users get one each, 24 get nothing
    const small = await project('Scarce', { members: emails });
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, 's-' || n, $2 from generate_series(1, 40) n`, [small.id, small.stages.Label]);
    const scarce = await Promise.all(crowd.map((token, i) => api('post', `/projects/${small.id}/stages/Label/next`, token, i % 2 ? t.app : second)));
    const got = scarce.map((r) => r.body.items.map((x: { id: number }) => x.id)).filter((ids) => ids.length > 0);
    expect(got).toHaveLength(40);
    expect(new Set(got.flat()).size).toBe(40);
  });

  it('hands out queueSize tasks per request, and with autoAssign off only what is assigned', async () => {
    const me = 'sizes@example.org';
    const token = await user(me);
    const p = await project('Sizes', { members: [me], settings: { queue_size: 3 } });
    await tasks(p.id, p.stages.Label, [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]);
    const first = await api('post', `/projects/${p.id}/stages/Label/next`, token);
    expect(first.body.items.map((x: { name: string }) => x.name)).toEqual(['a', 'b', 'c']);
    // asking again hands the same three back (own work first), nothing more
    const again = await api('post', `/projects/${p.id}/stages/Label/next`, token);
    expect(again.body.items.map((x: { name: string }) => x.name)).toEqual(['a', 'b', 'c']);

    const off = await project('Manual only', { members: [me], settings: { auto_assign: false } });
    await tasks(off.id, off.stages.Label, [{ name: 'free' }, { name: 'given', priority: 5 }]);
    expect((await api('post', `/projects/${off.id}/stages/Label/next`, token)).body.items).toEqual([]);
    await bulk(off.id, 'assign', ['given'], { member: String(userIds.get(me)) });
    expect((await api('post', `/projects/${off.id}/stages/Label/next`, token)).body.items.map((x: { name: string }) => x.name)).toEqual(['given']);
  });

  it('respects the stage access of members', async () => {
    const me = 'reviewer-only@example.org';
    const token = await user(me);
    const p = await project('Access', { reviewStages: 1, members: [me] });
    await t.sql(`insert into project_member_stages (project_member_id, stage_id) select id, $2 from project_members where project_id = $1 and user_id = $3`, [p.id, p.stages.Review_1, userIds.get(me)]);
    await tasks(p.id, p.stages.Label, [{ name: 'a' }]);
    const res = await api('post', `/projects/${p.id}/stages/Label/next`, token);
    expect(res.status).toBe(403);
    expect((await taskRow(p.id, 'a')).assignee_id).toBeNull();
    expect((await api('post', `/projects/${p.id}/stages/Review_1/next`, token)).status).toBe(200);
  });

  it('a lapsed lease frees an untouched task, never a saved one', async () => {
    const [ann, bob] = ['ann@example.org', 'bob@example.org'];
    const p = await project('Leases', { members: [ann, bob], settings: { reservation_minutes: 5, queue_size: 2 } });
    await tasks(p.id, p.stages.Label, [{ name: 'untouched', priority: 0 }, { name: 'saved', priority: 1 }]);
    const a = await api('post', `/projects/${p.id}/stages/Label/next`, await user(ann));
    expect(a.body.items.map((x: { name: string }) => x.name)).toEqual(['untouched', 'saved']);
    const lease = new Date(a.body.items[0].leaseExpiresAt).getTime();
    expect(lease).toBeGreaterThan(Date.now() + 4 * 60_000);
    expect(lease).toBeLessThan(Date.now() + 6 * 60_000);
    const savedId = await taskId(p.id, 'saved');
    expect((await api('put', `/projects/${p.id}/tasks/${savedId}/answers`, await user(ann)).send({ answers: {}, version: 0 })).status).toBe(200);
    expect((await taskRow(p.id, 'saved')).lease_expires_at).toBeNull();
    // every lease lapses — even a stray one on saved work: the predicate wants untouched auto allocations
    await t.sql(`update tasks set lease_expires_at = now() - interval '1 minute' where project_id = $1`, [p.id]);

    const b = await api('post', `/projects/${p.id}/stages/Label/next`, await user(bob));
    expect(b.body.items.map((x: { name: string }) => x.name)).toEqual(['untouched']);
    const untouched = await taskRow(p.id, 'untouched');
    expect(Number(untouched.assignee_id)).toBe(userIds.get(bob));
    const history = await t.sql<{ user_id: string; status: string; kind: string }>(`select user_id, status, kind from assignments where task_id = $1 order by id`, [untouched.id]);
    expect(history.map((h) => [Number(h.user_id), h.status, h.kind])).toEqual([[userIds.get(ann), 'expired', 'auto'], [userIds.get(bob), 'assigned', 'auto']]);
    const saved = await taskRow(p.id, 'saved');
    expect(Number(saved.assignee_id)).toBe(userIds.get(ann));
    expect(saved.assignment_status).toBe('saved');
    // Ann's queue lost the lapsed task and kept the saved one
    const queue = await api('get', `/projects/${p.id}/queue`, await user(ann));
    expect(queue.body.items.map((x: { name: string }) => x.name)).toEqual(['saved']);
  });

  it('never takes back manual, pre-assigned or reserved assignments', async () => {
    const [ann, bob] = ['mann@example.org', 'mbob@example.org'];
    const p = await project('Manual', { members: [ann, bob] });
    await tasks(p.id, p.stages.Label, [{ name: 'manual', priority: -3 }, { name: 'reserved', priority: -2 }, { name: 'pre', priority: -1 }]);
    await bulk(p.id, 'assign', ['manual'], { member: String(userIds.get(ann)) });
    await bulk(p.id, 'reserve', ['reserved'], { member: String(userIds.get(ann)) });
    await t.sql(`update tasks set pre_assign = jsonb_build_object('Label', $2::bigint) where project_id = $1 and name = 'pre'`, [p.id, userIds.get(ann)]);
    await bulk(p.id, 'send_to_stage', ['pre'], { stage: String(p.stages['Ground Truth']) });
    await t.sql(`update tasks set state = 'completed' where project_id = $1 and name = 'pre'`, [p.id]);
    await bulk(p.id, 'reset', ['pre']);
    expect((await taskRow(p.id, 'pre')).assignment_kind).toBe('preassign');
    // even with a lease in the past, these are never handed to someone else
    await t.sql(`update tasks set lease_expires_at = now() - interval '1 day' where project_id = $1`, [p.id]);
    const res = await api('post', `/projects/${p.id}/stages/Label/next`, await user(bob));
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([]);
    for (const name of ['manual', 'reserved', 'pre']) expect(Number((await taskRow(p.id, name)).assignee_id)).toBe(userIds.get(ann));
  });

  it('members cannot view, save or finalize a task not assigned to them (404); admins cannot annotate others\' tasks (403)', async () => {
    const [ann, bob] = ['vann@example.org', 'vbob@example.org'];
    const p = await project('Privacy', { members: [ann, bob] });
    await tasks(p.id, p.stages.Label, [{ name: 'a' }]);
    const got = await api('post', `/projects/${p.id}/stages/Label/next`, await user(ann));
    const id = got.body.items[0].id;
    const bobToken = await user(bob);
    expect((await api('get', `/projects/${p.id}/work/${id}`, bobToken)).status).toBe(404);
    expect((await api('get', `/projects/${p.id}/tasks/${id}`, bobToken)).status).toBe(404);
    expect((await api('put', `/projects/${p.id}/tasks/${id}/answers`, bobToken).send({ answers: {}, version: 0 })).status).toBe(404);
    expect((await api('post', `/projects/${p.id}/tasks/${id}/finalization`, bobToken).send({})).status).toBe(404);
    expect((await api('post', `/projects/${p.id}/tasks/${id}/skip`, bobToken)).status).toBe(404);
    // the admin sees it but may not work on it
    expect((await api('get', `/projects/${p.id}/work/${id}`, adminToken)).body.canAct).toBe(false);
    expect((await api('put', `/projects/${p.id}/tasks/${id}/answers`, adminToken).send({ answers: {}, version: 0 })).status).toBe(403);
    expect((await api('post', `/projects/${p.id}/tasks/${id}/finalization`, adminToken).send({})).status).toBe(403);
    expect((await taskRow(p.id, 'a')).assignment_status).toBe('assigned');
    // a task of another project is not found either
    const other = await project('Elsewhere', { members: [ann] });
    expect((await api('post', `/projects/${other.id}/tasks/${id}/finalization`, await user(ann)).send({})).status).toBe(404);
  });
});
