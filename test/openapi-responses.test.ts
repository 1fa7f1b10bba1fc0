import request from 'supertest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';

type Document = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; components: { schemas: Record<string, { properties: Record<string, { type?: string }> }> } };

/** The check every HTTP test runs (helpers/openapi-responses.ts) sees a response that differs from the document. */
let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await createTestApp();
  token = (await t.services().apiTokens.create(await createAdmin(t), 'check')).token;
});
afterAll(() => t.close());

it('reports an undocumented status, a body that breaks its schema, and stays quiet for documented answers', async () => {
  // the document as the check reads it, made to differ from what the server does
  const doc = t.app.swagger() as unknown as Document;
  delete doc.paths['/api/v1/projects'].get.responses['401'];
  doc.components.schemas.Me.properties.name.type = 'integer';

  expect((await request(t.app.server).get('/api/v1/projects')).status).toBe(401);
  expect((await request(t.app.server).get('/api/v1/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  expect((await request(t.app.server).get('/api/v1/projects').set('Authorization', `Bearer ${token}`)).status).toBe(200);
  expect(t.documentMismatches).toEqual([
    expect.stringMatching(/GET \/api\/v1\/projects → 401: status 401 is not documented/),
    expect.stringMatching(/GET \/api\/v1\/me → 200: the body does not match the document: \/name must be integer/),
  ]);
  // seen: the check works; the app closes cleanly
  t.documentMismatches.length = 0;
});
