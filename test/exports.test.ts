import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** Reads a binary response body as text (supertest leaves unknown types as buffers). */
const asText = (res: request.Response) => (Buffer.isBuffer(res.body) ? res.body.toString('utf8') : res.text);
const binary = (req: request.Test) => req.buffer(true).parse((res, done) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => done(null, Buffer.concat(chunks)));
});

describe('Exports', () => {
  let t: TestApp;
  let admin: Agent;
  let member: Agent;
  let projectId: number;
  let token: string;
  const tricky = {
    name: 'Ünïcødé, "quoted"\nline 🚗',
    batch: 'b,1 "x"',
    data: { caption: 'comma, "quote"\nnewline — ✓', url: 'https://example.org/a.jpg', nested: { k: [1, 2] } },
    metadata: { camera: 'front, left' },
  };

  async function finished(exportId: number) {
    for (let i = 0; i < 300; i++) {
      const [row] = await t.sql<Record<string, any>>('select * from exports where id = $1', [exportId]);
      if (['completed', 'failed'].includes(row.status)) return row;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('export did not finish');
  }

  /** Starts an export of a list view from the page, waits for it, downloads it. */
  async function exportView(format: string, filter: string) {
    const page = await admin.get(`/projects/${projectId}/tasks?${filter}`).redirects(1);
    const res = await admin.post(`/projects/${projectId}/exports`).type('form')
      .send(new URLSearchParams({ _csrf: csrfFrom(page.text), scope: 'all', filter, format }).toString());
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/projects/${projectId}/exports`);
    const [{ id }] = await t.sql<{ id: string }>('select max(id) as id from exports');
    const row = await finished(Number(id));
    expect(row.status).toBe('completed');
    const file = await binary(admin.get(`/projects/${projectId}/exports/${id}/download`));
    expect(file.status).toBe(200);
    expect(file.headers['content-disposition']).toBe(`attachment; filename="scenes-export-${id}.${format}"`);
    return { row, text: asText(file) };
  }

  beforeAll(async () => {
    t = await createTestApp();
    const adminUser = await createAdmin(t);
    const lee = await createUser(t, 'lee@example.org');
    const s = t.services();
    projectId = (await s.projects.create(adminUser, { name: 'Scenes', reviewStages: 1 })).id;
    await s.members.add(await s.projects.access(adminUser, projectId, 'admin'), 'lee@example.org', { role: 'member', stageIds: [] });
    const [label] = await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]);
    await t.sql(
      `insert into tasks (project_id, name, stage_id, priority, priority_score, client_batch_id, data, metadata, created_at)
       select $1, format('task-%s', lpad(n::text, 4, '0')), $2, n % 7 - 3, case when n % 2 = 0 then 0.123456789 end, 'plain',
              jsonb_build_object('n', n), '{}', timestamptz '2026-11-01T10:00:00Z' + n * interval '1 minute'
       from generate_series(1, 1200) n`,
      [projectId, label.id],
    );
    const [special] = await t.sql<{ id: string }>(
      `insert into tasks (project_id, name, stage_id, priority, client_batch_id, data, metadata, created_at, last_submitted_at)
       values ($1, $2, $3, -2147483648, $4, $5, $6, '2026-11-02T00:00:00Z', '2026-11-03T04:05:06.789Z') returning id`,
      [projectId, tricky.name, label.id, tricky.batch, JSON.stringify(tricky.data), JSON.stringify(tricky.metadata)],
    );
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind) values ($1, $2, $3, 'saved', 'manual')`, [special.id, label.id, lee.id]);
    await t.sql(`insert into answer_sets (task_id, stage_id, user_id, kind, answers) values ($1, $2, $3, 'submission', $4)`,
      [special.id, label.id, lee.id, JSON.stringify({ label: 'car', note: 'a "note", here' })]);
    await t.sql(
      `insert into tasks (project_id, name, stage_id, client_batch_id, data) values
       ($1, '=HYPERLINK("http://evil.example")', $2, '+SUM(1)', '{}'), ($1, '@cmd', $2, '-2+3', '{}'), ($1, E'\\tTab', $2, E'\\rCR', '{}')`,
      [projectId, label.id],
    );
    admin = await loggedIn(t, 'admin@example.org');
    member = await loggedIn(t, 'lee@example.org');
    token = (await s.apiTokens.create(adminUser, 'exports')).token;
  });
  afterAll(() => t.close());

  it('exports a filtered view as CSV whose every field round-trips', async () => {
    const { row, text } = await exportView('csv', 'batch=b%2C1&batch_match=contains');
    expect(row).toMatchObject({ rows_total: 1, rows_written: 1, format: 'csv' });
    const records = parse(text, { columns: true }) as Record<string, string>[];
    expect(Object.keys(records[0])).toEqual(['id', 'name', 'state', 'stage', 'priority', 'priority_score', 'client_batch_id', 'created_at',
      'last_submitted_at', 'data', 'metadata', 'answers', 'assignees']);
    expect(records).toHaveLength(1);
    const r = records[0];
    expect(r.name).toBe(tricky.name);
    expect(r.client_batch_id).toBe(tricky.batch);
    expect(r.priority).toBe('-2147483648');
    expect(r.priority_score).toBe('');
    expect(r.state).toBe('new');
    expect(r.stage).toBe('Label');
    expect(r.created_at).toBe('2026-11-02T00:00:00.000Z');
    expect(r.last_submitted_at).toBe('2026-11-03T04:05:06.789Z');
    expect(JSON.parse(r.data)).toEqual(tricky.data);
    expect(JSON.parse(r.metadata)).toEqual(tricky.metadata);
    expect(JSON.parse(r.answers)).toEqual({ label: 'car', note: 'a "note", here' });
    expect(JSON.parse(r.assignees)).toEqual({ Label: 'lee@example.org' });
  });

  it('neutralises cells a spreadsheet would run as formulas', async () => {
    const { text } = await exportView('csv', 'q=%3DHYPERLINK');
    const [r] = parse(text, { columns: true }) as Record<string, string>[];
    expect(r.name).toBe(`'=HYPERLINK("http://evil.example")`);
    expect(r.client_batch_id).toBe(`'+SUM(1)`);
    const others = parse((await exportView('csv', 'q=%40cmd')).text, { columns: true }) as Record<string, string>[];
    expect(others[0]).toMatchObject({ name: `'@cmd`, client_batch_id: `'-2+3` });
    const tabs = parse((await exportView('csv', 'q=Tab')).text, { columns: true }) as Record<string, string>[];
    expect(tabs[0]).toMatchObject({ name: `'\tTab`, client_batch_id: `'\rCR` });
    // numbers are not text: negative priorities stay numbers
    const negatives = parse((await exportView('csv', 'pmax=-3&size=25')).text, { columns: true }) as Record<string, string>[];
    expect(negatives.length).toBeGreaterThan(100);
    expect(negatives.every((x) => /^-\d+$/.test(x.priority) && Number(x.priority) <= -3)).toBe(true);
  });

  it('exports JSONL and JSON with the same fields, across many cursor fetches', async () => {
    const jsonl = await exportView('jsonl', 'batch=plain&batch_match=exact');
    const lines = jsonl.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1200);
    expect(lines.map((l) => l.id)).toEqual([...lines.map((l) => l.id)].sort((a, b) => a - b));
    expect(lines[1]).toMatchObject({ name: 'task-0002', priority: -1, priorityScore: '0.123456789', clientBatchId: 'plain', data: { n: 2 }, answers: null, assignees: null });
    const json = await exportView('json', 'q=%C3%9Cn%C3%AFc');
    const parsed = JSON.parse(json.text);
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ name: tricky.name, data: tricky.data, metadata: tricky.metadata, clientBatchId: tricky.batch, assignees: { Label: 'lee@example.org' } });
    const empty = await exportView('json', 'q=nothing-matches-this');
    expect(JSON.parse(empty.text)).toEqual([]);
  });

  it('exports a selection from the bulk bar', async () => {
    const ids = (await t.sql<{ id: string }>(`select id from tasks where project_id = $1 and name in ('task-0001', 'task-0003') order by id`, [projectId])).map((r) => r.id);
    const page = await admin.get(`/projects/${projectId}/tasks`);
    const res = await admin.post(`/projects/${projectId}/tasks/bulk`).type('form').set('HX-Request', 'true').set('HX-Target', 'bulk-outcome')
      .send(`_csrf=${encodeURIComponent(csrfFrom(page.text))}&action=export&format=csv&ids=${ids[0]}&ids=${ids[1]}`);
    expect(res.status).toBe(200);
    const id = Number(/Export #(\d+) started/.exec(res.text)![1]);
    await finished(id);
    const file = await binary(admin.get(`/projects/${projectId}/exports/${id}/download`));
    expect((parse(asText(file), { columns: true }) as Record<string, string>[]).map((r) => r.name)).toEqual(['task-0001', 'task-0003']);
  });

  it('lists exports with their status on the Exports page', async () => {
    const res = await admin.get(`/projects/${projectId}/exports`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Completed');
    expect(res.text).toContain('/download');
    expect(res.text).not.toContain('every 2s'); // nothing running: no polling
  });

  it('refuses members: 403 naming the role for the page, starting and downloading', async () => {
    const [{ id }] = await t.sql<{ id: string }>('select max(id) as id from exports');
    expect((await member.get(`/projects/${projectId}/exports`)).status).toBe(403);
    expect((await member.get(`/projects/${projectId}/exports/${id}/download`)).status).toBe(403);
    const page = await member.get(`/projects/${projectId}/tasks`);
    const res = await member.post(`/projects/${projectId}/exports`).type('form')
      .send(new URLSearchParams({ _csrf: csrfFrom(page.text), scope: 'all', filter: '', format: 'csv' }).toString());
    expect(res.status).toBe(403);
  });

  it('works through the API, and validates', async () => {
    const api = (method: 'get' | 'post', path: string) => request(t.app.server)[method](`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${token}`);
    const started = await api('post', '/exports').send({ format: 'jsonl', filter: 'pmin=3' });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ format: 'jsonl', status: 'queued', downloadUrl: null });
    await finished(started.body.id);
    const status = await api('get', `/exports/${started.body.id}`);
    expect(status.body).toMatchObject({ status: 'completed', downloadUrl: `/api/v1/projects/${projectId}/exports/${started.body.id}/download` });
    const file = await binary(api('get', `/exports/${started.body.id}/download`));
    const lines = asText(file).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(status.body.rowsWritten);
    expect(lines.every((l) => l.priority >= 3)).toBe(true);
    expect((await api('post', '/exports').send({ format: 'xml' })).status).toBe(422);
    expect((await api('post', '/exports').send({ format: 'csv', filter: 'pmin=abc' })).status).toBe(422);
    expect((await api('post', '/exports').send({ format: 'csv', filter: 'q=x', taskIds: [1] })).status).toBe(422);
    expect((await api('get', '/exports')).body.total).toBeGreaterThan(5);
  });

  it('deletes old export files on schedule; their downloads then answer 409', async () => {
    const [{ id }] = await t.sql<{ id: string }>(`select min(id) as id from exports where status = 'completed'`);
    await t.sql(`update exports set finished_at = now() - interval '8 days' where id = $1`, [id]);
    expect(await t.services().exports.expireOld(new Date(), 7)).toBe(1);
    expect((await t.sql('select status from exports where id = $1', [id]))[0]).toEqual({ status: 'expired' });
    expect((await t.sql<{ n: number }>('select count(*)::int as n from export_chunks where export_id = $1', [id]))[0].n).toBe(0);
    expect((await admin.get(`/projects/${projectId}/exports/${id}/download`)).status).toBe(409);
    expect(await t.services().exports.expireOld(new Date(), 7)).toBe(0);
  });
});
