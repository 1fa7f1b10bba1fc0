import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';

/** A body the API cannot read answers in the API's own error shape: 400 for broken JSON, 415 for another media type. */
describe('API request bodies', () => {
  let t: TestApp;
  let token: string;
  let projectId: number;
  let taskId: number;
  const post = (path: string) => request(t.app.server).post(`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${token}`);
  const held = async () => (await t.sql<{ held: boolean }>('select held from tasks where id = $1', [taskId]))[0].held;

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await createAdmin(t);
    const s = t.services();
    projectId = (await s.projects.create(admin, { name: 'Bodies', reviewStages: 0 })).id;
    taskId = Number((await t.sql<{ id: string }>(
      `insert into tasks (project_id, name, stage_id) values ($1, 'b-1', (select id from stages where project_id = $1 and kind = 'label')) returning id`, [projectId],
    ))[0].id);
    token = (await s.apiTokens.create(admin, 'script')).token;
  });
  afterAll(() => t.close());

  it('answers malformed JSON with 400 invalid_json, and an empty JSON body too', async () => {
    for (const body of ['{"taskIds": [1', '{taskIds: [1]}', '']) {
      const res = await post('/tasks/hold').set('Content-Type', 'application/json').send(body);
      expect(res.status, body).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_json', message: expect.stringMatching(/JSON/) });
    }
    expect(await held()).toBe(false);
  });

  it('answers a form, text, XML or multipart body to a JSON route with 415 in the API shape, and changes nothing', async () => {
    const bodies: [string, string][] = [
      ['application/x-www-form-urlencoded', `taskIds=${taskId}&held=true`],
      ['text/plain', JSON.stringify({ taskIds: [taskId], held: true })],
      ['application/xml', '<hold/>'],
      ['multipart/form-data; boundary=abc', `--abc\r\nContent-Disposition: form-data; name="held"\r\n\r\ntrue\r\n--abc--\r\n`],
    ];
    for (const [type, body] of bodies) {
      const res = await post('/tasks/hold').set('Content-Type', type).send(body);
      expect(res.status, type).toBe(415);
      expect(res.body, type).toEqual({ error: 'unsupported_media_type', message: 'Send the body as application/json.' });
    }
    expect(await held()).toBe(false);
    // the same body as JSON works
    expect((await post('/tasks/hold').send({ taskIds: [taskId], held: true })).status).toBe(200);
    expect(await held()).toBe(true);
  });

  it('answers JSON sent to the upload (a multipart route) with 415, and a bodiless call without a body stays fine', async () => {
    const upload = await post('/uploads').send({ file: 'name\na\n' });
    expect(upload.status).toBe(415);
    expect(upload.body).toEqual({ error: 'unsupported_media_type', message: 'Send the body as multipart/form-data.' });
    expect(await t.sql('select count(*)::int n from uploads')).toEqual([{ n: 0 }]);
    expect((await post('/queue/finalization')).status).toBe(200);
  });

  it('answers 401 before looking at the body when the token is missing', async () => {
    const res = await request(t.app.server).post(`/api/v1/projects/${projectId}/tasks/hold`).set('Content-Type', 'text/plain').send('x');
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('unauthorized');
  });
});
