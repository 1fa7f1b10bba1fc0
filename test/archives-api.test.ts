import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { createAdmin, createTestApp, createUser, type TestApp } from './helpers/app.ts';

/** Archives through the API only (issue 14 §5): create from ids or a filter, list, get, download, restore. */
describe('Archives API', () => {
  let t: TestApp;
  let token: string;
  let memberToken: string;
  let projectId: number;
  const api = (method: 'get' | 'post', path: string, as = token) => request(t.app.server)[method](`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${as}`);
  const live = async () => (await t.sql<{ name: string }>('select name from tasks where project_id = $1 and archive_id is null order by name', [projectId])).map((r) => r.name);

  beforeAll(async () => {
    t = await createTestApp({ RUN_WORKERS: 'false' });
    const admin = await createAdmin(t);
    token = (await t.services().apiTokens.create(admin, 'api')).token;
    projectId = (await t.services().projects.create(admin, { name: 'Archive API', reviewStages: 0 })).id;
    const lee = await createUser(t, 'lee@example.org');
    await t.services().members.add(await t.services().projects.access(admin, projectId), 'lee@example.org', { role: 'member', stageIds: [] });
    memberToken = (await t.services().apiTokens.create(lee, 'lee')).token;
    await t.sql(`insert into tasks (project_id, name, stage_id, client_batch_id, data)
                 select $1, 'a-' || n, (select id from stages where project_id = $1 and kind = 'label'), case when n <= 3 then 'old' else 'new' end, jsonb_build_object('n', n)
                 from generate_series(1, 6) n`, [projectId]);
  });
  afterAll(() => t.close());

  it('archives by filter with a reason, lists, gets, downloads in the upload format and restores', async () => {
    const created = await api('post', '/archives').send({ filter: 'batch=old&batch_match=exact', reason: 'Old batch' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ changed: 3, skipped: {}, archive: { reason: 'Old batch', taskCount: 3, remaining: 3, automatic: false, restoredAt: null } });
    expect(await live()).toEqual(['a-4', 'a-5', 'a-6']);
    const id = created.body.archive.id;

    const list = await api('get', '/archives');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 1, page: 1, pages: 1, items: [{ id, reason: 'Old batch' }] });
    expect((await api('get', `/archives/${id}`)).body).toMatchObject({ id, taskCount: 3, downloadUrl: `/api/v1/projects/${projectId}/archives/${id}/download` });

    const csv = await api('get', `/archives/${id}/download`).buffer(true).parse((res, cb) => { let s = ''; res.on('data', (c: Buffer) => (s += c)); res.on('end', () => cb(null, s)); });
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    expect((parse(csv.body as string, { columns: true }) as { name: string }[]).map((r) => r.name).sort()).toEqual(['a-1', 'a-2', 'a-3']);
    const json = await api('get', `/archives/${id}/download?format=json`);
    expect(json.status).toBe(200);

    const restored = await api('post', `/archives/${id}/restoration`);
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ restored: 3, clashes: 0, archive: { id, remaining: 0 } });
    expect(restored.body.archive.restoredAt).not.toBeNull();
    expect(await live()).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6']);
  });

  it('archives by ids; nothing archivable makes no record; bad input is a clear 422; members are refused', async () => {
    const [{ id: a4 }] = await t.sql<{ id: string }>(`select id from tasks where project_id = $1 and name = 'a-4'`, [projectId]);
    const byIds = await api('post', '/archives').send({ taskIds: [Number(a4), 999999] });
    expect(byIds.status).toBe(201);
    expect(byIds.body).toMatchObject({ changed: 1, skipped: { 'not found in this project (or archived)': 1 }, archive: { taskCount: 1 } });
    const none = await api('post', '/archives').send({ taskIds: [999998] });
    expect(none.body).toMatchObject({ changed: 0, archive: null });
    for (const body of [{ taskIds: [1], filter: '' }, { filter: 'pmin=abc' }, { taskIds: [] }, { reason: 'x'.repeat(2001) }, { extra: 1 }]) {
      const res = await api('post', '/archives').send(body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.error).toBe('validation_failed');
    }
    expect((await api('get', '/archives/999999')).status).toBe(404);
    expect((await api('get', '/archives', memberToken)).status).toBe(403);
    expect((await api('post', '/archives', memberToken).send({ taskIds: [Number(a4)] })).status).toBe(403);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await request(t.app.server).get('/api/docs/json')).body;
    for (const path of ['/api/v1/projects/{projectId}/archives', '/api/v1/projects/{projectId}/archives/{archiveId}',
      '/api/v1/projects/{projectId}/archives/{archiveId}/download', '/api/v1/projects/{projectId}/archives/{archiveId}/restoration']) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });
});
