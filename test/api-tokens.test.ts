import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { sha256 } from '../src/lib/secrets.ts';
import { agent, createAdmin, createTestApp, createUser, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

/** The one-time token from the page shown right after creation. */
const tokenFrom = (html: string) => /id="new-token">(tl_[A-Za-z0-9_-]+)</.exec(html)?.[1];

describe('personal API tokens', () => {
  let t: TestApp;
  let bob: Agent;
  let bobId: number;
  let adminUser: Awaited<ReturnType<typeof createAdmin>>;

  beforeAll(async () => {
    t = await createTestApp();
    adminUser = await createAdmin(t);
    bobId = (await createUser(t, 'bob@example.org')).id;
    await createUser(t, 'carol@example.org');
    bob = await loggedIn(t, 'bob@example.org');
  });
  afterAll(() => t.close());

  const api = (path: string, token?: string) => {
    const req = request(t.app.server).get(path);
    return token ? req.set('Authorization', `Bearer ${token}`) : req;
  };

  async function createToken(client: Agent, name: string): Promise<string> {
    const res = await submitForm(client, '/account/tokens', '/account/tokens', { name });
    expect(res.status).toBe(201);
    const token = tokenFrom(res.text);
    expect(token).toBeTruthy();
    return token!;
  }

  it('lists no tokens at first', async () => {
    const res = await bob.get('/account/tokens');
    expect(res.status).toBe(200);
    expect(res.text).toContain('You have no API tokens yet');
    expect(res.text).toContain('Authorization: Bearer &lt;token&gt;');
    expect(res.text).toContain('href="/api/docs"');
  });

  it('creates a token shown once, stores only its hash, and lists it by prefix', async () => {
    const res = await submitForm(bob, '/account/tokens', '/account/tokens', { name: 'Nightly export' });
    expect(res.status).toBe(201);
    const token = tokenFrom(res.text)!;
    expect(token).toMatch(/^tl_/);
    expect(res.text).toContain('data-copy="new-token"');
    expect(res.text).toContain('will not be shown again');

    const rows = await t.sql<{ name: string; token_hash: string; token_prefix: string; user_id: string }>(
      'select name, token_hash, token_prefix, user_id from api_tokens where user_id = $1',
      [bobId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].name).toBe('Nightly export');
    expect(rows[0].token_hash).not.toBe(token);
    expect(rows[0].token_hash).not.toContain(token);
    expect(rows[0].token_hash).toBe(sha256(token));
    expect(token.startsWith(rows[0].token_prefix)).toBe(true);

    const list = await bob.get('/account/tokens');
    expect(list.text).toContain('Nightly export');
    expect(list.text).toContain(`${rows[0].token_prefix}…`);
    expect(list.text).not.toContain(token);
  });

  it('rejects an empty or too long name with 422 and creates nothing', async () => {
    const before = await t.sql('select id from api_tokens where user_id = $1', [bobId]);
    const empty = await submitForm(bob, '/account/tokens', '/account/tokens', { name: '  ' });
    expect(empty.status).toBe(422);
    expect(empty.text).toContain('Name is required');
    expect(empty.text).not.toContain('id="new-token"');
    const long = await submitForm(bob, '/account/tokens', '/account/tokens', { name: 'x'.repeat(101) });
    expect(long.status).toBe(422);
    expect(long.text).toContain('Use at most 100 characters');
    expect(await t.sql('select id from api_tokens where user_id = $1', [bobId])).toHaveLength(before.length);
  });

  it('authenticates API calls with the token, as its user', async () => {
    const token = await createToken(bob, 'API client');
    const me = await api('/api/v1/me', token);
    expect(me.status).toBe(200);
    expect(me.body).toEqual(expect.objectContaining({ id: bobId, email: 'bob@example.org', isAdmin: false }));
    const projects = await api('/api/v1/projects', token);
    expect(projects.status).toBe(200);
    expect(projects.body).toEqual({ items: [] });
    const [row] = await t.sql<{ last_used_at: Date | null }>('select last_used_at from api_tokens where token_hash = $1', [sha256(token)]);
    expect(row.last_used_at).not.toBeNull();
  });

  it('answers 401 with a JSON error without a token or with an unknown one', async () => {
    for (const res of [await api('/api/v1/me'), await api('/api/v1/me', 'tl_not-a-real-token'), await api('/api/v1/projects')]) {
      expect(res.status).toBe(401);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toEqual(expect.objectContaining({ error: 'unauthorized', message: expect.any(String) }));
    }
  });

  it('ignores the session cookie on the API', async () => {
    const res = await bob.get('/api/v1/me');
    expect(res.status).toBe(401);
  });

  it('revokes a token: it stops working at once and shows as revoked', async () => {
    const token = await createToken(bob, 'Short-lived');
    expect((await api('/api/v1/me', token)).status).toBe(200);
    const [row] = await t.sql<{ id: string }>('select id from api_tokens where token_hash = $1', [sha256(token)]);

    const res = await submitForm(bob, '/account/tokens', `/account/tokens/${row.id}/revocation`, {});
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account/tokens');
    const [after] = await t.sql<{ revoked_at: Date | null }>('select revoked_at from api_tokens where id = $1', [row.id]);
    expect(after.revoked_at).not.toBeNull();

    const denied = await api('/api/v1/me', token);
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({ error: 'unauthorized', message: expect.any(String) });

    const list = await bob.get('/account/tokens');
    expect(list.text).toContain('revoked.');
    expect(list.text).toMatch(/Short-lived(?:(?!<\/tr>).)*Revoked/s);
    expect(list.text).not.toContain(`/account/tokens/${row.id}/revocation`);
  });

  it('answers 404 when revoking someone else’s token, and leaves it working', async () => {
    const carol = await loggedIn(t, 'carol@example.org');
    const token = await createToken(carol, 'Carol’s script');
    const [row] = await t.sql<{ id: string }>('select id from api_tokens where token_hash = $1', [sha256(token)]);
    const res = await submitForm(bob, '/account/tokens', `/account/tokens/${row.id}/revocation`, {});
    expect(res.status).toBe(404);
    const [after] = await t.sql<{ revoked_at: Date | null }>('select revoked_at from api_tokens where id = $1', [row.id]);
    expect(after.revoked_at).toBeNull();
    expect((await api('/api/v1/me', token)).body.email).toBe('carol@example.org');
    // and Bob's list does not show it
    expect((await bob.get('/account/tokens')).text).not.toContain('Carol’s script');
  });

  it('stops a deactivated user’s tokens', async () => {
    const dave = await createUser(t, 'dave@example.org');
    const token = await createToken(await loggedIn(t, 'dave@example.org'), 'Dave');
    expect((await api('/api/v1/me', token)).status).toBe(200);
    await t.services().users.setActive(dave.id, false, adminUser);
    expect((await api('/api/v1/me', token)).status).toBe(401);
  });

  it('needs a signed-in user and a CSRF token', async () => {
    const res = await agent(t.app).get('/account/tokens');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?next=%2Faccount%2Ftokens');
    const forged = await bob.post('/account/tokens').type('form').send({ name: 'No CSRF' });
    expect(forged.status).toBe(403);
    expect(await t.sql(`select id from api_tokens where name = 'No CSRF'`)).toHaveLength(0);
  });
});
