import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, type TestApp } from './helpers/app.ts';

describe('Task API', () => {
  let t: TestApp;
  let adminToken: string;
  let memberToken: string;
  let projectId: number;
  let otherProjectId: number;
  let leeId: number;
  const stage: Record<string, number> = {};

  const api = (method: 'get' | 'post', path: string, token = adminToken) =>
    request(t.app.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${token}`);
  const idOf = async (name: string) =>
    Number((await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = $2', [projectId, name]))[0].id);

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await createAdmin(t);
    const lee = await createUser(t, 'lee@example.org');
    leeId = lee.id;
    const s = t.services();
    projectId = (await s.projects.create(admin, { name: 'Scenes', reviewStages: 1 })).id;
    otherProjectId = (await s.projects.create(admin, { name: 'Other', reviewStages: 0 })).id;
    await s.members.add(await s.projects.access(admin, projectId, 'admin'), 'lee@example.org', { role: 'member', stageIds: [] });
    for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId])) stage[row.name] = Number(row.id);
    await t.sql(
      `insert into tasks (project_id, name, stage_id, priority, client_batch_id, data, metadata)
       select $1, format('t-%s', lpad(n::text, 3, '0')), $2, n % 5, case when n % 2 = 0 then 'even' end,
              jsonb_build_object('url', format('https://example.org/%s.jpg', n)), '{"camera": "front"}'
       from generate_series(1, 250) n`,
      [projectId, stage.Label],
    );
    await t.sql(`insert into tasks (project_id, name, stage_id) values ($1, 'foreign', (select id from stages where project_id = $1 limit 1))`, [otherProjectId]);
    adminToken = (await s.apiTokens.create(admin, 'script')).token;
    memberToken = (await s.apiTokens.create(lee, 'lee script')).token;
  });
  afterAll(() => t.close());

  it('lists tasks with the list filters and walks every page with the cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api('get', `/projects/${projectId}/tasks?batch=even&batch_match=exact&limit=40${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((x: { id: number }) => x.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toHaveLength(125);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(125);
  });

  it('returns tasks in a documented shape', async () => {
    const res = await api('get', `/projects/${projectId}/tasks?q=t-007`);
    expect(res.body.items).toHaveLength(1);
    expect(res.body.items[0]).toMatchObject({
      name: 't-007', state: 'new', stage: { name: 'Label' }, priority: 2, priorityScore: null, clientBatchId: null,
      held: false, assignee: null, data: { url: 'https://example.org/7.jpg' }, metadata: { camera: 'front' },
    });
    const one = await api('get', `/projects/${projectId}/tasks/${res.body.items[0].id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ name: 't-007', assignments: [] });
  });

  it('answers 422 with details for malformed filters and cursors', async () => {
    for (const query of ['pmin=abc', 'state=bogus', 'created_from=2026-02-30', 'cursor=nonsense', 'limit=0', 'limit=9999']) {
      const res = await api('get', `/projects/${projectId}/tasks?${query}`);
      expect(res.status, query).toBe(422);
      expect(res.body.error).toBe('validation_failed');
    }
  });

  it('assigns by email, reserves, and unassigns', async () => {
    const [a, b] = [await idOf('t-001'), await idOf('t-002')];
    let res = await api('post', `/projects/${projectId}/tasks/assign`).send({ taskIds: [a, b], email: 'LEE@example.org' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ changed: 2, skipped: {} });
    const one = await api('get', `/projects/${projectId}/tasks/${a}`);
    expect(one.body.assignee).toMatchObject({ id: leeId, email: 'lee@example.org' });
    expect(one.body.assignments).toMatchObject([{ status: 'assigned', kind: 'manual', stage: { id: expect.any(Number), name: 'Label' } }]);

    res = await api('post', `/projects/${projectId}/tasks/assign`).send({ taskIds: [a], email: 'nobody@example.org' });
    expect(res.status).toBe(422);
    res = await api('post', `/projects/${projectId}/tasks/assign`).send({ taskIds: [b] });
    expect(res.body).toEqual({ changed: 1, skipped: {} });
    res = await api('post', `/projects/${projectId}/tasks/assign`).send({ taskIds: [b], email: 'lee@example.org', reserve: true });
    expect((await api('get', `/projects/${projectId}/tasks/${b}`)).body.assignmentKind).toBe('reserved');
  });

  it('sets priorities and scores per task, RedBrick style', async () => {
    const [a, b, c] = [await idOf('t-010'), await idOf('t-011'), await idOf('t-012')];
    const res = await api('post', `/projects/${projectId}/tasks/priority`).send([
      { taskId: a, priority: -3 },
      { taskId: b, priorityScore: 0.123456789 },
      { taskId: c, priority: 2, priorityScore: '1' },
      { taskId: 999999, priority: 1 },
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ changed: 3, skipped: { 'not found in this project (or archived)': 1 } });
    const rows = await t.sql<{ name: string; priority: number; score: string | null }>(
      `select name, priority, trim_scale(priority_score)::text as score from tasks where id = any($1) order by name`, [[a, b, c]]);
    expect(rows).toEqual([
      { name: 't-010', priority: -3, score: null },
      { name: 't-011', priority: 1, score: '0.123456789' },
      { name: 't-012', priority: 2, score: '1' },
    ]);
    // clearing a score; an unchanged task is reported
    const again = await api('post', `/projects/${projectId}/tasks/priority`).send([{ taskId: b, priorityScore: null }, { taskId: a, priority: -3 }]);
    expect(again.body).toEqual({ changed: 1, skipped: { 'already had those values': 1 } });
    const events = await t.sql<{ before: unknown; after: unknown }>(`select before, after from task_events where task_id = $1 and kind = 'priority_changed' order by id`, [b]);
    expect(events).toEqual([
      { before: { priority: 1, priorityScore: null }, after: { priority: 1, priorityScore: '0.123456789' } },
      { before: { priority: 1, priorityScore: '0.123456789' }, after: { priority: 1, priorityScore: null } },
    ]);
  });

  it('takes small scores as numbers or strings, exactly, through the one score parser', async () => {
    const a = await idOf('t-030');
    const score = async () => (await t.sql<{ score: string | null }>('select trim_scale(priority_score)::text as score from tasks where id = $1', [a]))[0].score;
    for (const [sent, stored] of [
      [0.000000001, '0.000000001'], ['0.000000001', '0.000000001'], [1e-9, '0.000000001'], ['1e-9', '0.000000001'],
      [0.000000123, '0.000000123'], ['0.000000123', '0.000000123'], [0.5, '0.5'], [1, '1'], ['1', '1'], [0, '0'],
    ] as const) {
      const res = await api('post', `/projects/${projectId}/tasks/priority`).send([{ taskId: a, priorityScore: sent }]);
      expect(res.status, JSON.stringify(sent)).toBe(200);
      expect(await score(), JSON.stringify(sent)).toBe(stored);
    }
    for (const sent of [1.0000000001, '1.0000000001', '0.1234567891', 0.1234567891, 1.5, -0.5]) {
      const res = await api('post', `/projects/${projectId}/tasks/priority`).send([{ taskId: a, priorityScore: sent }]);
      expect(res.status, JSON.stringify(sent)).toBe(422);
    }
    expect(await score()).toBe('0');
  });

  it('refuses bad priority calls with 422 and changes nothing', async () => {
    const a = await idOf('t-020');
    for (const body of [
      [{ taskId: a, priority: 2 ** 40 }],
      [{ taskId: a, priority: 1.5 }],
      [{ taskId: a, priority: 'abc' }],
      [{ taskId: a, priorityScore: 1.0000000001 }],
      [{ taskId: a, priorityScore: '0.1234567891' }],
      [{ taskId: a }],
      [{ taskId: a, priority: 1 }, { taskId: a, priority: 2 }],
      [],
    ]) {
      const res = await api('post', `/projects/${projectId}/tasks/priority`).send(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error).toBe('validation_failed');
    }
    expect((await t.sql<{ priority: number }>('select priority from tasks where id = $1', [a]))[0].priority).toBe(0);
  });

  it('sends to a stage, holds and sets the client batch ID', async () => {
    const [a, b] = [await idOf('t-030'), await idOf('t-031')];
    let res = await api('post', `/projects/${projectId}/tasks/stage`).send({ taskIds: [a], stage: 'Review_1' });
    expect(res.body).toEqual({ changed: 1, skipped: {} });
    expect((await api('get', `/projects/${projectId}/tasks/${a}`)).body.stage.name).toBe('Review_1');
    expect((await api('post', `/projects/${projectId}/tasks/stage`).send({ taskIds: [a], stage: 'Nope' })).status).toBe(422);
    // a stage by its id works the same, and the list filter takes either too
    const label = (await api('get', `/projects/${projectId}/stages`)).body.items.find((x: { name: string }) => x.name === 'Label');
    expect((await api('post', `/projects/${projectId}/tasks/stage`).send({ taskIds: [b], stage: label.id })).body).toEqual({ changed: 0, skipped: { 'already in that stage': 1 } });
    const byName = await api('get', `/projects/${projectId}/tasks?stage=Review_1`);
    const byId = await api('get', `/projects/${projectId}/tasks?stage=${(await api('get', `/projects/${projectId}/tasks/${a}`)).body.stage.id}`);
    expect(byName.status).toBe(200);
    expect(byName.body.items.map((x: { id: number }) => x.id)).toEqual(byId.body.items.map((x: { id: number }) => x.id));
    expect(byName.body.items.map((x: { id: number }) => x.id)).toContain(a);
    expect((await api('get', `/projects/${projectId}/tasks?stage=Nowhere`)).status).toBe(422);

    res = await api('post', `/projects/${projectId}/tasks/hold`).send({ taskIds: [a, b], held: true });
    expect(res.body).toEqual({ changed: 2, skipped: {} });
    res = await api('post', `/projects/${projectId}/tasks/hold`).send({ taskIds: [a, b], held: true });
    expect(res.body).toEqual({ changed: 0, skipped: { 'already held': 2 } });

    res = await api('post', `/projects/${projectId}/tasks/client-batch`).send({ taskIds: [a, b], clientBatchId: 'batch-9' });
    expect(res.body.changed).toBe(2);
    const listed = await api('get', `/projects/${projectId}/tasks?batch=batch-9&batch_match=exact`);
    expect(listed.body.items.map((x: { id: number }) => x.id)).toEqual([a, b]);
    res = await api('post', `/projects/${projectId}/tasks/client-batch`).send({ taskIds: [a], clientBatchId: null });
    expect((await api('get', `/projects/${projectId}/tasks/${a}`)).body.clientBatchId).toBeNull();
  });

  it('scopes members to their own tasks and refuses their edits', async () => {
    const assigned = await idOf('t-001'); // assigned to Lee above
    const mine = await idOf('t-002'); // reserved for Lee above
    const other = await idOf('t-100');
    const list = await api('get', `/projects/${projectId}/tasks`, memberToken);
    expect(list.body.items.map((x: { id: number }) => x.id)).toEqual([assigned, mine]);
    expect((await api('get', `/projects/${projectId}/tasks/${mine}`, memberToken)).status).toBe(200);
    expect((await api('get', `/projects/${projectId}/tasks/${other}`, memberToken)).status).toBe(404);
    const foreign = (await t.sql<{ id: string }>(`select id from tasks where name = 'foreign'`))[0].id;
    expect((await api('get', `/projects/${projectId}/tasks/${foreign}`)).status).toBe(404);
    expect((await api('get', `/projects/${otherProjectId}/tasks`, memberToken)).status).toBe(404);
    const res = await api('post', `/projects/${projectId}/tasks/hold`, memberToken).send({ taskIds: [mine], held: true });
    expect(res.status).toBe(403);
    expect((await api('post', `/projects/${projectId}/tasks/priority`, memberToken).send([{ taskId: mine, priority: 1 }])).status).toBe(403);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await request(t.app.server).get('/api/docs/json')).body;
    for (const path of ['/api/v1/projects/{projectId}/tasks', '/api/v1/projects/{projectId}/tasks/{taskId}', '/api/v1/projects/{projectId}/tasks/assign',
      '/api/v1/projects/{projectId}/tasks/priority', '/api/v1/projects/{projectId}/tasks/stage', '/api/v1/projects/{projectId}/tasks/hold',
      '/api/v1/projects/{projectId}/tasks/client-batch']) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });

  it('gives a task\u2019s history, oldest first, the creation entry first, with a cursor; members only for tasks they hold', async () => {
    const a = await idOf('t-040');
    await api('post', `/projects/${projectId}/tasks/priority`).send([{ taskId: a, priority: 5 }]);
    await api('post', `/projects/${projectId}/tasks/hold`).send({ taskIds: [a], held: true });
    await api('post', `/projects/${projectId}/tasks/hold`).send({ taskIds: [a], held: false });
    const all = await api('get', `/projects/${projectId}/tasks/${a}/events`);
    expect(all.status).toBe(200);
    expect(all.body.items.map((e: { kind: string }) => e.kind)).toEqual(['created', 'priority_changed', 'held', 'unheld']);
    expect(all.body.items[1]).toMatchObject({ before: { priority: 0 }, after: { priority: 5 }, actor: { name: expect.any(String) } });
    expect(all.body.nextCursor).toBeNull();
    // two at a time: every event once, in order
    const seen: string[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await api('get', `/projects/${projectId}/tasks/${a}/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((e: { kind: string }) => e.kind));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['created', 'priority_changed', 'held', 'unheld']);
    expect((await api('get', `/projects/${projectId}/tasks/${a}/events?cursor=nope`)).status).toBe(422);
    expect((await api('get', `/projects/${projectId}/tasks/${a}/events`, memberToken)).status).toBe(404);
    expect((await api('get', `/projects/${projectId}/tasks/999999999/events`)).status).toBe(404);
  });
});
