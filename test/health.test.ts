import { afterAll, beforeAll, expect, it } from 'vitest';
import { agent, createTestApp, type TestApp } from './helpers/app.ts';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

it('answers the health and readiness probes without signing in', async () => {
  expect((await agent(t.app).get('/healthz')).body).toEqual({ status: 'ok' });
  expect((await agent(t.app).get('/readyz')).body).toEqual({ status: 'ok' });
});

it('publishes the OpenAPI document built from the route schemas', async () => {
  const res = await agent(t.app).get('/api/docs/json');
  expect(res.status).toBe(200);
  expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/api/v1/me', '/api/v1/projects', '/api/v1/projects/{projectId}/stages']));
  expect(res.body.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
});

it('serves the pinned htmx 2.0.11 and sends a same-origin script policy', async () => {
  const res = await agent(t.app).get('/vendor/htmx/htmx.min.js');
  expect(res.status).toBe(200);
  expect(res.text).toContain('2.0.11');
  const page = await agent(t.app).get('/setup');
  expect(page.headers['content-security-policy']).toContain("script-src 'self'");
});

it('answers unknown API paths with a JSON 404', async () => {
  const res = await agent(t.app).get('/api/v1/nothing-here');
  expect(res.status).toBe(404);
  expect(res.body).toEqual({ error: 'not_found', message: expect.any(String) });
});
