import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

describe('malformed requests get a clear 4xx', () => {
  let t: TestApp;
  let admin: Agent;
  let token: string;
  let projectId: number;

  beforeAll(async () => {
    t = await createTestApp();
    const user = await createAdmin(t);
    projectId = (await t.services().projects.create(user, { name: 'Scenes', reviewStages: 1 })).id;
    token = (await t.services().apiTokens.create(user, 'script')).token;
    admin = await loggedIn(t, 'admin@example.org');
  });
  afterAll(() => t.close());

  it('checks the CSRF token of every browser POST before its body: 403 without a token, nothing changed', async () => {
    const before = await t.sql('select (select count(*) from projects) projects, (select count(*) from users) users, (select count(*) from stages) stages');
    const posts = t.routes.filter((r) => r.method === 'POST' && !r.url.startsWith('/api/'));
    expect(posts.length).toBeGreaterThan(25);
    const answers: string[] = [];
    for (const route of posts) {
      const url = route.url.replace(':projectId', String(projectId)).replace(/:\w+/g, '1');
      // a body that fails validation everywhere it is checked: the token must be refused first
      const res = await admin.post(url).type('form').send({ name: '', email: 'not-an-email', priority: 'x' });
      if (res.status !== 403) answers.push(`${route.url} → ${res.status}`);
    }
    expect(answers).toEqual([]);
    expect(await t.sql('select (select count(*) from projects) projects, (select count(*) from users) users, (select count(*) from stages) stages')).toEqual(before);
  });

  const malformed: [string, string, string][] = [
    ['a boundary that is not in the body', 'multipart/form-data; boundary=abc', '--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--xyz--\r\n'],
    ['no boundary parameter', 'multipart/form-data', '--abc\r\nContent-Disposition: form-data; name="file"\r\n\r\nx\r\n--abc--\r\n'],
    ['garbage', 'multipart/form-data; boundary=abc', '\u0000\u0001garbage'],
    ['a truncated body', 'multipart/form-data; boundary=abc', '--abc\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\nname\na-1\n'],
  ];

  it.each(malformed)('answers a multipart body with %s with 400 on the upload page and the API, and stores nothing', async (_what, type, body) => {
    const csrf = csrfFrom((await admin.get(`/projects/${projectId}/uploads`)).text);
    const page = await admin.post(`/projects/${projectId}/uploads`).set('Content-Type', type).set('x-csrf-token', csrf).send(body);
    expect(page.status).toBe(400);
    expect(page.text).toContain('not readable multipart/form-data');
    const api = await request(t.app.server).post(`/api/v1/projects/${projectId}/uploads`)
      .set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body);
    expect(api.status).toBe(400);
    expect(api.body).toMatchObject({ error: 'bad_request', message: expect.stringContaining('multipart') });
    expect(await t.sql('select count(*)::int n from uploads where project_id = $1', [projectId])).toEqual([{ n: 0 }]);
  });
});
