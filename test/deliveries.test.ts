import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verify } from '../src/modules/deliveries/webhook.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, createUser, loggedIn, submitForm, type TestApp } from './helpers/app.ts';

interface Received { headers: http.IncomingHttpHeaders; body: string; url: string }

/** Delivery: the API feed, client acknowledge / reject, and the signed webhook with its allow-list. */
describe('Delivery', () => {
  let t: TestApp;
  let admin: IUser;
  let adminToken: string;
  let lenaToken: string;
  let lenaId: number;
  let server: http.Server;
  let port: number;
  const received: Received[] = [];
  let answer: (res: http.ServerResponse) => void = (res) => res.writeHead(204).end();

  const api = (method: 'get' | 'post' | 'put', path: string, token = adminToken) =>
    request(t.app.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${token}`);

  async function project(name: string) {
    const p = await t.services().projects.create(admin, { name, reviewStages: 0 });
    await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [p.id, lenaId]);
    return p.id;
  }
  const label = async (projectId: number) => Number((await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]))[0].id);
  /** Lena labels and finalizes `n` tasks; returns their ids. */
  async function complete(projectId: number, n: number): Promise<number[]> {
    const ids = (await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id) select $1, 'd-' || g, $2 from generate_series(1, $3::int) g returning id`, [projectId, await label(projectId), n])).map((r) => Number(r.id));
    for (const id of ids) {
      await api('post', `/projects/${projectId}/stages/Label/next`, lenaToken);
      const res = await api('post', `/projects/${projectId}/tasks/${id}/finalization`, lenaToken).send({ answers: {}, version: 0 });
      expect(res.body.state).toBe('completed');
    }
    return ids;
  }
  const access = async (projectId: number) => t.services().projects.access(admin, projectId);
  /** the signing secret as stored (the app shows it only once, when it is made) */
  const storedSecret = async (projectId: number) => (await t.sql<{ secret: string | null }>('select webhook_secret as secret from projects where id = $1', [projectId]))[0].secret;

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    adminToken = (await t.services().apiTokens.create(admin, 'client')).token;
    const { user } = await t.services().users.create({ email: 'lena@example.org', name: 'lena' });
    lenaId = user.id;
    lenaToken = (await t.services().apiTokens.create(user, 'lena')).token;
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ headers: req.headers, body, url: req.url ?? '' });
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await t.close();
  });

  it('the feed hands out completed tasks at least once, with answers and a cursor; the client acknowledges or rejects', async () => {
    const projectId = await project('Feed');
    const ids = await complete(projectId, 3);
    const feed = (body: object) => api('post', `/projects/${projectId}/deliveries`).send(body);
    expect((await api('post', `/projects/${projectId}/deliveries`, lenaToken).send({})).status).toBe(403);
    const first = await feed({ limit: 2 });
    expect(first.status).toBe(200);
    expect(first.body.items.map((x: { id: number }) => x.id)).toEqual(ids.slice(0, 2));
    expect(first.body.items[0]).toMatchObject({ state: 'completed', answers: {} });
    expect(first.body.nextCursor).toEqual(expect.any(String));
    // a later cursor confirms what came before it
    const second = await feed({ limit: 2, cursor: first.body.nextCursor });
    expect(second.body.items.map((x: { id: number }) => x.id)).toEqual([ids[2]]);
    const states = async () => (await t.sql<{ id: string; state: string; delivery_status: string }>(`select id, state, delivery_status from tasks where project_id = $1 order by id`, [projectId]))
      .map((r) => [Number(r.id), r.state, r.delivery_status]);
    expect(await states()).toEqual([[ids[0], 'delivered', 'delivered'], [ids[1], 'delivered', 'delivered'], [ids[2], 'completed', 'sent']]);
    // the last page is confirmed by one more call (empty) or by the receipt call
    const third = await feed({ limit: 2, cursor: second.body.nextCursor });
    expect(third.body.items).toEqual([]);
    expect(third.body.nextCursor).toBe(second.body.nextCursor);
    expect(await states()).toEqual([[ids[0], 'delivered', 'delivered'], [ids[1], 'delivered', 'delivered'], [ids[2], 'delivered', 'delivered']]);
    expect((await feed({})).body.items).toEqual([]);
    expect(await t.sql(`select count(*)::int as n from task_events where project_id = $1 and kind = 'delivered'`, [projectId])).toEqual([{ n: 3 }]);

    const ack = await api('post', `/projects/${projectId}/deliveries/acknowledgement`).send({ taskIds: [ids[0]] });
    expect(ack.body).toEqual({ changed: 1, skipped: {} });
    const rej = await api('post', `/projects/${projectId}/deliveries/rejection`).send({ taskIds: [ids[1]], reason: 'Wrong label' });
    expect(rej.body).toEqual({ changed: 1, skipped: {} });
    const rows = await t.sql<Record<string, any>>(`select t.id, t.state, s.name as stage, t.assignee_id, t.assignment_kind from tasks t join stages s on s.id = t.stage_id where t.id = any($1) order by t.id`, [ids.slice(0, 2)]);
    expect(rows).toEqual([
      { id: String(ids[0]), state: 'acknowledged', stage: 'Ground Truth', assignee_id: null, assignment_kind: null },
      { id: String(ids[1]), state: 'rejected', stage: 'Label', assignee_id: String(lenaId), assignment_kind: 'returned' },
    ]);
  });

  it('a page whose answer is lost comes again: no completed task is lost from the feed', async () => {
    const projectId = await project('Lost');
    const ids = await complete(projectId, 3);
    const feed = (body: object) => api('post', `/projects/${projectId}/deliveries`).send(body);
    // the client asks, the answer never reaches it
    const lost = await feed({ limit: 2 });
    expect(lost.body.items.map((x: { id: number }) => x.id)).toEqual(ids.slice(0, 2));
    // it asks again from where it was (the start): the same tasks
    const again = await feed({ limit: 2 });
    expect(again.body.items.map((x: { id: number }) => x.id)).toEqual(ids.slice(0, 2));
    // the same with a cursor: a lost second page is fetched again with the first page's cursor
    const page2 = await feed({ limit: 2, cursor: again.body.nextCursor });
    expect(page2.body.items.map((x: { id: number }) => x.id)).toEqual([ids[2]]);
    const page2again = await feed({ limit: 2, cursor: again.body.nextCursor });
    expect(page2again.body.items.map((x: { id: number }) => x.id)).toEqual([ids[2]]);
    // an explicit receipt confirms the rest
    expect((await api('post', `/projects/${projectId}/deliveries/receipt`).send({ taskIds: [ids[2], 999999] })).body).toEqual({ confirmed: 1 });
    expect((await t.sql<{ state: string }>(`select distinct state from tasks where project_id = $1`, [projectId])).map((r) => r.state)).toEqual(['delivered']);
    expect((await feed({})).body.items).toEqual([]);
    expect((await api('post', `/projects/${projectId}/deliveries/receipt`, lenaToken).send({ taskIds: [ids[0]] })).status).toBe(403);
  });

  it('the webhook job POSTs a verifiable HMAC-SHA256 signature, records the attempt and marks the task delivered', async () => {
    const projectId = await project('Webhook');
    const s = t.services();
    await expect(s.deliveries.updateWebhook(await access(projectId), admin, { url: `http://127.0.0.1:${port}/hook`, allowedHosts: 'example.org' })).rejects.toMatchObject({ statusCode: 422 });
    await s.deliveries.updateWebhook(await access(projectId), admin, { url: `http://127.0.0.1:${port}/hook`, allowedHosts: '127.0.0.1' });
    const secret = (await storedSecret(projectId))!;
    expect(secret).toMatch(/^whsec_/);
    received.length = 0;
    const [id] = await complete(projectId, 1);
    // "Delivering" until the job has run; the feed leaves it alone meanwhile
    const [{ delivery_status }] = await t.sql<{ delivery_status: string }>(`select delivery_status from tasks where id = $1`, [id]);
    expect(['pending', 'delivering', 'delivered']).toContain(delivery_status);
    await expect.poll(async () => (await t.sql<{ state: string }>(`select state from tasks where id = $1`, [id]))[0].state, { timeout: 15_000, interval: 200 }).toBe('delivered');

    expect(received).toHaveLength(1);
    const call = received[0];
    expect(call.url).toBe('/hook');
    const body = JSON.parse(call.body);
    expect(body).toMatchObject({ event: 'task.completed', project: { id: projectId }, task: { id, state: 'completed' }, attempt: 1 });
    expect(verify(secret, String(call.headers[TIMESTAMP_HEADER]), call.body, String(call.headers[SIGNATURE_HEADER]))).toBe(true);
    expect(verify(secret, String(call.headers[TIMESTAMP_HEADER]), call.body.replace('completed', 'rejected'), String(call.headers[SIGNATURE_HEADER]))).toBe(false);
    expect(verify('whsec_other', String(call.headers[TIMESTAMP_HEADER]), call.body, String(call.headers[SIGNATURE_HEADER]))).toBe(false);
    const attempts = await t.sql(`select attempt, status, response_status, error from webhook_deliveries where task_id = $1`, [id]);
    expect(attempts).toEqual([{ attempt: 1, status: 'succeeded', response_status: 204, error: null }]);
    expect((await t.sql(`select delivery_status from tasks where id = $1`, [id]))).toEqual([{ delivery_status: 'delivered' }]);
  });

  it('refuses private and loopback addresses unless the address is listed, and never follows redirects', async () => {
    const projectId = await project('Refused');
    const s = t.services();
    // "localhost" is on the list, but it resolves to a loopback address that is not
    await s.deliveries.updateWebhook(await access(projectId), admin, { url: `http://localhost:${port}/hook`, allowedHosts: 'localhost' });
    const [id] = (await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id, state, delivery_status) values ($1, 'x', $2, 'completed', 'pending') returning id`,
      [projectId, await label(projectId)])).map((r) => Number(r.id));
    received.length = 0;
    expect(await t.services().deliveries.deliverNow(id)).toBe('refused');
    expect(received).toHaveLength(0);
    const [attempt] = await t.sql<Record<string, any>>(`select status, error from webhook_deliveries where task_id = $1`, [id]);
    expect(attempt.status).toBe('failed');
    expect(attempt.error).toMatch(/private or loopback/);
    // a refused delivery falls back to the feed
    expect((await api('post', `/projects/${projectId}/deliveries`).send({})).body.items.map((x: { id: number }) => x.id)).toEqual([id]);

    // a redirect is a failure, not followed
    await s.deliveries.updateWebhook(await access(projectId), admin, { url: `http://127.0.0.1:${port}/moved`, allowedHosts: '127.0.0.1' });
    const [id2] = (await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id, state, delivery_status) values ($1, 'y', $2, 'completed', 'pending') returning id`,
      [projectId, await label(projectId)])).map((r) => Number(r.id));
    answer = (res) => res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end();
    try {
      await expect(t.services().deliveries.deliverNow(id2)).rejects.toThrow(/redirect/);
      expect(received.map((r) => r.url)).toEqual(['/moved']);
      await expect(t.services().deliveries.deliverNow(id2)).rejects.toThrow(/redirect/);
      // the failure policy gives up: the task is marked failed, with the last attempt's error in its history
      await t.services().deliveries.fail(id2, 'Stopped after 2 attempts');
    } finally {
      answer = (res) => res.writeHead(204).end();
    }
    const attempts = await t.sql(`select attempt, status, response_status from webhook_deliveries where task_id = $1 order by id`, [id2]);
    expect(attempts).toEqual([{ attempt: 1, status: 'failed', response_status: 302 }, { attempt: 2, status: 'failed', response_status: 302 }]);
    expect((await t.sql(`select state, delivery_status from tasks where id = $1`, [id2]))).toEqual([{ state: 'completed', delivery_status: 'failed' }]);
    expect(await t.sql(`select kind, note from task_events where task_id = $1 and kind = 'delivery_failed'`, [id2])).toEqual([{ kind: 'delivery_failed', note: expect.stringMatching(/302/) }]);
  });

  it('the Delivery page shows a new signing secret once, to the admin who made it', async () => {
    const projectId = await project('Secret once');
    const page = `/projects/${projectId}/delivery`;
    const ada = await loggedIn(t, 'admin@example.org');
    const secretOn = (html: string) => /id="wh-secret">([^<]+)</.exec(html)?.[1] ?? null;

    expect((await submitForm(ada, page, page, { url: 'https://hooks.example.org/a', allowedHosts: 'hooks.example.org' })).status).toBe(303);
    const first = await ada.get(page);
    const stored = await storedSecret(projectId);
    expect(stored).toMatch(/^whsec_/);
    expect(secretOn(first.text)).toBe(stored);
    expect(first.text).toContain('shown only this once');
    // the next visit says a secret is set, and never shows it
    const again = await ada.get(page);
    expect(secretOn(again.text)).toBeNull();
    expect(again.text).not.toContain(stored!);
    expect(again.text).toContain('Generate a new secret');

    // saving other settings keeps the secret and shows nothing
    expect((await submitForm(ada, page, page, { url: 'https://hooks.example.org/b', allowedHosts: 'hooks.example.org' })).status).toBe(303);
    expect(secretOn((await ada.get(page)).text)).toBeNull();
    expect(await storedSecret(projectId)).toBe(stored);

    // a new one replaces it, shown once
    expect((await submitForm(ada, page, page, { url: 'https://hooks.example.org/b', allowedHosts: 'hooks.example.org', regenerate: 'on' })).status).toBe(303);
    const rotated = secretOn((await ada.get(page)).text);
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(stored);
    expect(rotated).toBe(await storedSecret(projectId));
    expect(secretOn((await ada.get(page)).text)).toBeNull();
  });

  it('only an instance admin opens the internal network; attempts show a generic failure', async () => {
    const projectId = await project('Internal');
    await createUser(t, 'pia@example.org');
    await t.services().members.add(await access(projectId), 'pia@example.org', { role: 'admin', stageIds: [] });
    const pia = await loggedIn(t, 'pia@example.org');
    for (const hosts of ['127.0.0.1', '10.1.2.3', 'localhost', '::1', '192.168.0.7 example.org']) {
      const res = await submitForm(pia, `/projects/${projectId}/delivery`, `/projects/${projectId}/delivery`, { url: 'https://example.org/hook', allowedHosts: hosts });
      expect(res.status, hosts).toBe(422);
      expect(res.text).toContain('ask an instance admin');
    }
    expect((await t.sql(`select webhook_allowed_hosts from projects where id = $1`, [projectId]))[0].webhook_allowed_hosts ?? []).toEqual([]);
    // a public host is theirs to allow
    expect((await submitForm(pia, `/projects/${projectId}/delivery`, `/projects/${projectId}/delivery`, { url: 'https://example.org/hook', allowedHosts: 'example.org' })).status).toBe(303);

    // an instance admin may list a loopback address: a closed port shows "connection refused", no address or port
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await t.services().deliveries.updateWebhook(await access(projectId), admin, { url: `http://127.0.0.1:${closedPort}/hook`, allowedHosts: 'example.org 127.0.0.1' });
    // the project admin may still change other settings while the instance admin's entry stays
    expect((await submitForm(pia, `/projects/${projectId}/delivery`, `/projects/${projectId}/delivery`, { url: `http://127.0.0.1:${closedPort}/hook`, allowedHosts: 'example.org\n127.0.0.1' })).status).toBe(303);
    const [id] = (await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id, state, delivery_status) values ($1, 'z', $2, 'completed', 'pending') returning id`,
      [projectId, await label(projectId)])).map((r) => Number(r.id));
    await expect(t.services().deliveries.deliverNow(id)).rejects.toThrow(/connection refused/);
    const [attempt] = await t.sql<{ error: string }>(`select error from webhook_deliveries where task_id = $1`, [id]);
    expect(attempt.error).toBe('connection refused');
  });
});
