import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, createAdmin, createTestApp, createUser, csrfFrom, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

/** The cookie a browser holds, to replay it from another client as an attacker would. */
function cookieOf(client: Agent): string {
  const jar = (client as unknown as { jar: { getCookies(o: object): { name: string; value: string }[] } }).jar;
  return jar.getCookies({ domain: '127.0.0.1', path: '/', secure: false, script: false }).map((c) => `${c.name}=${c.value}`).join('; ');
}

describe('server-side sessions', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ SESSION_IDLE_MINUTES: '30', SESSION_MAX_HOURS: '12' });
    await createAdmin(t);
    await createUser(t, 'lee@example.org');
  });
  afterAll(() => t.close());

  const opens = async (cookie: string) => (await agent(t.app).get('/projects').set('Cookie', cookie)).status;

  it('a cookie replayed after logout opens nothing', async () => {
    const client = await loggedIn(t, 'lee@example.org');
    const cookie = cookieOf(client);
    expect(await opens(cookie)).toBe(200);
    const page = await client.get('/projects');
    expect((await client.post('/logout').type('form').send({ _csrf: csrfFrom(page.text) })).status).toBe(303);
    expect(await opens(cookie)).toBe(302);
  });

  it('ends after the idle time and after the absolute lifetime', async () => {
    const idle = await loggedIn(t, 'lee@example.org');
    const idleCookie = cookieOf(idle);
    const absolute = await loggedIn(t, 'lee@example.org');
    const absoluteCookie = cookieOf(absolute);
    expect(await opens(idleCookie)).toBe(200);
    expect(await opens(absoluteCookie)).toBe(200);
    // newest first: the second sign-in's session, then the first one's
    const [absoluteRow, idleRow] = await t.sql<{ id: string }>(`select id from sessions where user_id = (select id from users where email = 'lee@example.org') order by id desc limit 2`);
    // 31 minutes without a request; and a session used a minute ago but begun 12 hours ago
    await t.sql(`update sessions set last_seen_at = now() - interval '31 minutes' where id = $1`, [idleRow.id]);
    await t.sql(`update sessions set created_at = now() - interval '12 hours', expires_at = now() - interval '1 second' where id = $1`, [absoluteRow.id]);
    expect(await opens(idleCookie)).toBe(302);
    expect(await opens(absoluteCookie)).toBe(302);
  });

  it('a password change ends the other sessions and keeps this one; the account page lists and ends sessions', async () => {
    await createUser(t, 'kim@example.org');
    const laptop = await loggedIn(t, 'kim@example.org');
    const phone = await loggedIn(t, 'kim@example.org');
    const tablet = await loggedIn(t, 'kim@example.org');
    const account = await laptop.get('/account');
    expect(account.status).toBe(200);
    expect(account.text).toContain('This browser');
    expect((account.text.match(/End session/g) ?? []).length).toBe(2);

    const changed = await submitForm(laptop, '/account', '/account/password', { currentPassword: 'correct horse battery', password: 'a brand new passphrase' });
    expect(changed.status).toBe(303);
    expect((await laptop.get('/projects')).status).toBe(200);
    expect((await phone.get('/projects')).status).toBe(302);
    expect((await tablet.get('/projects')).status).toBe(302);

    const second = await loggedIn(t, 'kim@example.org', 'a brand new passphrase');
    expect((await second.get('/projects')).status).toBe(200);
    const everywhere = await submitForm(laptop, '/account', '/account/sessions/deletion', {});
    expect(everywhere.status).toBe(303);
    expect((await second.get('/projects')).status).toBe(302);
    expect((await laptop.get('/projects')).status).toBe(200);
    // ending another user's session id is a 404 and ends nothing
    const [other] = await t.sql<{ id: string }>(`select id from sessions where user_id = (select id from users where email = 'lee@example.org') limit 1`);
    if (other) expect((await submitForm(laptop, '/account', `/account/sessions/${other.id}/deletion`, {})).status).toBe(404);
  });

  it('deactivation ends every session of the user', async () => {
    const user = await createUser(t, 'noor@example.org');
    const noor = await loggedIn(t, 'noor@example.org');
    expect((await noor.get('/projects')).status).toBe(200);
    const admin = await loggedIn(t, 'admin@example.org');
    expect((await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/deactivation`, {})).status).toBe(303);
    expect((await noor.get('/projects')).status).toBe(302);
    expect((await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/activation`, {})).status).toBe(303);
    expect((await noor.get('/projects')).status).toBe(302);
  });
});
