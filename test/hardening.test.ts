import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, submitForm, type TestApp } from './helpers/app.ts';

describe('hardening: invite links, tokens, password checks, headers', () => {
  let t: TestApp;
  let plain: TestApp;
  let limited: TestApp;
  let https: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ PUBLIC_URL: 'http://tasklane.example.org' });
    plain = await createTestApp();
    limited = await createTestApp({ LOGIN_RATE_LIMIT: '3' });
    https = await createTestApp({ PUBLIC_URL: 'https://tasklane.example.org' });
    for (const app of [t, plain, limited]) await createAdmin(app);
  });
  afterAll(async () => {
    for (const app of [t, plain, limited, https]) await app.close();
  });

  it('builds invite links from PUBLIC_URL, never from the Host header', async () => {
    const admin = await loggedIn(t, 'admin@example.org');
    const page = await admin.get('/admin/users/new');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const res = await admin.post('/admin/users').set('Host', 'evil.invalid').type('form').send({ _csrf: csrf, name: 'Ivy', email: 'ivy@example.org', password: '' });
    expect(res.status).toBe(201);
    expect(res.text).toMatch(/http:\/\/tasklane\.example\.org\/invite\/inv_/);
    expect(res.text).not.toContain('evil.invalid');
  });

  it('says that PUBLIC_URL is missing instead of guessing the address', async () => {
    const admin = await loggedIn(plain, 'admin@example.org');
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: 'Ivy', email: 'ivy@example.org', password: '' });
    expect(res.status).toBe(201);
    expect(res.text).toContain('PUBLIC_URL</code> is not set');
    expect(res.text).not.toMatch(/https?:\/\/[^"<\s]*\/invite\//);
    expect(res.text).toMatch(/\/invite\/inv_/);
  });

  it('revokes a deactivated user\'s API tokens for good', async () => {
    const lee = await createUser(t, 'lee@example.org');
    const { token } = await t.services().apiTokens.create(lee, 'script');
    const me = () => request(t.app.server).get('/api/v1/me').set('Authorization', `Bearer ${token}`);
    expect((await me()).status).toBe(200);
    const admin = await loggedIn(t, 'admin@example.org');
    expect((await submitForm(admin, `/admin/users/${lee.id}`, `/admin/users/${lee.id}/deactivation`, {})).status).toBe(303);
    expect((await me()).status).toBe(401);
    expect((await submitForm(admin, `/admin/users/${lee.id}`, `/admin/users/${lee.id}/activation`, {})).status).toBe(303);
    expect((await me()).status).toBe(401);
    expect(await t.sql('select count(*)::int n from api_tokens where user_id = $1 and revoked_at is null', [lee.id])).toEqual([{ n: 0 }]);
  });

  it('rate-limits the current-password check like sign-in', async () => {
    await createUser(limited, 'kim@example.org');
    const kim = await loggedIn(limited, 'kim@example.org');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await submitForm(kim, '/account', '/account/password', { currentPassword: `guess ${i} guess`, password: 'a brand new passphrase' })).status);
    }
    expect(statuses.slice(0, 3)).toEqual([422, 422, 422]);
    expect(statuses.slice(3)).toEqual([429, 429]);
  });

  it('marks signed-in pages and API answers no-store, and sends HSTS for an https PUBLIC_URL only', async () => {
    const admin = await loggedIn(t, 'admin@example.org');
    const page = await admin.get('/projects');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['strict-transport-security']).toBeUndefined();
    expect((await request(https.app.server).get('/login')).headers['strict-transport-security']).toMatch(/max-age=\d+/);
    const api = await request(t.app.server).get('/api/v1/me');
    expect(api.status).toBe(401);
    expect(api.headers['cache-control']).toBe('no-store');
    const plainPage = await (await loggedIn(plain, 'admin@example.org')).get('/projects');
    expect(plainPage.headers['cache-control']).toBe('no-store');
    expect(plainPage.headers['strict-transport-security']).toBeUndefined();
    // static files keep their own caching
    const css = await request(t.app.server).get('/static/css/app.css');
    expect(css.headers['cache-control']).not.toBe('no-store');
  });
});
