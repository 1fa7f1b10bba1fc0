import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, createTestApp, csrfFrom, loggedIn, submitForm, type TestApp } from './helpers/app.ts';

describe('first-run setup and sign-in', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('sends every page to /setup while no user exists', async () => {
    const res = await agent(t.app).get('/projects');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/setup');
  });

  it('rejects an invalid setup form with field errors and creates nothing', async () => {
    const res = await submitForm(agent(t.app), '/setup', '/setup', { name: '', email: 'not-an-email', password: 'short' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Name is required');
    expect(res.text).toContain('Enter a valid email address');
    expect(res.text).toContain('Use at least 10 characters');
    expect(await t.sql('select id from users')).toHaveLength(0);
  });

  it('creates the first admin, signs them in, then closes for good', async () => {
    const client = agent(t.app);
    const res = await submitForm(client, '/setup', '/setup', { name: 'Ada', email: 'Ada@Example.org', password: 'correct horse battery' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/projects');
    const projects = await client.get('/projects');
    expect(projects.status).toBe(200);
    expect(projects.text).toContain('Ada');
    const users = await t.sql<{ email: string; is_admin: boolean; password_hash: string }>('select email, is_admin, password_hash from users');
    expect(users).toEqual([expect.objectContaining({ email: 'ada@example.org', is_admin: true })]);
    expect(users[0].password_hash).toMatch(/^\$argon2id\$/);

    const again = await agent(t.app).get('/setup');
    expect(again.status).toBe(302);
    expect(again.headers.location).toBe('/login');
    const page = await agent(t.app).get('/login');
    const post = await agent(t.app).post('/setup').type('form').send({ name: 'Eve', email: 'eve@example.org', password: 'correct horse battery', _csrf: csrfFrom(page.text) });
    expect([303, 403]).toContain(post.status);
    expect(await t.sql('select id from users')).toHaveLength(1);
  });

  it('gives the same answer for a wrong password and an unknown user', async () => {
    const wrong = await submitForm(agent(t.app), '/login', '/login', { email: 'ada@example.org', password: 'wrong password!' });
    const unknown = await submitForm(agent(t.app), '/login', '/login', { email: 'nobody@example.org', password: 'wrong password!' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const message = (html: string) => /role="alert">([^<]*)</.exec(html)?.[1];
    expect(message(wrong.text)).toBe('Email or password is not right.');
    expect(message(unknown.text)).toBe(message(wrong.text));
  });

  it('logs in case-insensitively and logs out', async () => {
    const client = await loggedIn(t, 'ADA@example.org');
    expect((await client.get('/projects')).status).toBe(200);
    const page = await client.get('/projects');
    const out = await client.post('/logout').type('form').send({ _csrf: csrfFrom(page.text) });
    expect(out.status).toBe(303);
    const after = await client.get('/projects');
    expect(after.status).toBe(302);
    expect(after.headers.location).toMatch(/^\/login/);
  });

  it('refuses a POST without a CSRF token with 403', async () => {
    const client = await loggedIn(t, 'ada@example.org');
    const res = await client.post('/projects').type('form').send({ name: 'No token' });
    expect(res.status).toBe(403);
    expect(await t.sql(`select id from projects where name = 'No token'`)).toHaveLength(0);
    const bad = await client.post('/projects').type('form').send({ name: 'Bad token', _csrf: 'forged' });
    expect(bad.status).toBe(403);
  });

  it('redirects back to the page asked for after login, never off-site', async () => {
    const client = agent(t.app);
    const first = await client.get('/projects/new');
    expect(first.headers.location).toBe('/login?next=%2Fprojects%2Fnew');
    const res = await submitForm(client, '/login?next=/projects/new', '/login', { email: 'ada@example.org', password: 'correct horse battery', next: '/projects/new' });
    expect(res.headers.location).toBe('/projects/new');
    const evil = await submitForm(agent(t.app), '/login', '/login', { email: 'ada@example.org', password: 'correct horse battery', next: '//evil.example' });
    expect(evil.headers.location).toBe('/projects');
  });
});

describe('login rate limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ LOGIN_RATE_LIMIT: '3' });
  });
  afterAll(() => t.close());

  it('answers 429 after too many attempts from one address', async () => {
    await t.services().users.createFirstAdmin({ email: 'a@example.org', name: 'A', password: 'correct horse battery' });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await submitForm(agent(t.app), '/login', '/login', { email: 'a@example.org', password: 'nope nope nope' })).status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429]);
  });
});
