import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, createAdmin, createTestApp, createUser, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

const PASSWORD = 'correct horse battery';
const inviteFrom = (html: string) => /\/invite\/(inv_[A-Za-z0-9_-]+)/.exec(html)?.[1];

describe('instance admin: user management', () => {
  let t: TestApp;
  let admin: Agent;
  let adminId: number;

  beforeAll(async () => {
    t = await createTestApp();
    adminId = (await createAdmin(t)).id;
    admin = await loggedIn(t, 'admin@example.org');
  });
  afterAll(() => t.close());

  it('answers 404 to non-admins on every /admin/users page and action', async () => {
    const plain = await createUser(t, 'plain@example.org');
    const client = await loggedIn(t, 'plain@example.org');
    expect((await client.get('/admin/users')).status).toBe(404);
    expect((await client.get('/admin/users/new')).status).toBe(404);
    expect((await client.get(`/admin/users/${adminId}`)).status).toBe(404);
    const create = await submitForm(client, '/projects', '/admin/users', { name: 'Sneaky', email: 'sneaky@example.org', password: PASSWORD, isAdmin: 'on' });
    expect(create.status).toBe(404);
    expect(await t.sql(`select id from users where email = 'sneaky@example.org'`)).toHaveLength(0);
    const promote = await submitForm(client, '/projects', `/admin/users/${plain.id}`, { name: 'plain', isAdmin: 'on' });
    expect(promote.status).toBe(404);
    const [row] = await t.sql<{ is_admin: boolean }>('select is_admin from users where id = $1', [plain.id]);
    expect(row.is_admin).toBe(false);
    const deactivate = await submitForm(client, '/projects', `/admin/users/${adminId}/deactivation`, {});
    expect(deactivate.status).toBe(404);
  });

  it('sends signed-out visitors to the login page', async () => {
    const res = await agent(t.app).get('/admin/users');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?next=%2Fadmin%2Fusers');
  });

  it('lists users with role and status', async () => {
    await createUser(t, 'listed@example.org');
    await t.services().users.create({ email: 'pending@example.org', name: 'Pending Person' });
    const res = await admin.get('/admin/users');
    expect(res.status).toBe(200);
    expect(res.text).toContain('New user');
    const row = (email: string) => new RegExp(`<tr>(?:(?!</tr>).)*${email.replace('.', '\\.')}(?:(?!</tr>).)*</tr>`, 's').exec(res.text)?.[0] ?? '';
    expect(row('admin@example.org')).toContain('>Admin<');
    expect(row('admin@example.org')).toContain('>Active<');
    expect(row('listed@example.org')).toContain('>User<');
    expect(row('pending@example.org')).toContain('>Invited<');
    expect(row('pending@example.org')).toContain('no password yet');
  });

  it('rejects an invalid user form with 422, field errors and no row', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: '', email: 'not-an-email', password: 'short' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Name is required');
    expect(res.text).toContain('Enter a valid email address');
    expect(res.text).toContain('Use at least 10 characters');
    expect(res.text).toContain('value="not-an-email"');
    expect(res.text).not.toContain('value="short"');
    expect(await t.sql(`select id from users where email = 'not-an-email'`)).toHaveLength(0);
  });

  it('rejects a duplicate email (any case) with a field error', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: 'Copy', email: 'LISTED@example.org', password: PASSWORD });
    expect(res.status).toBe(422);
    expect(res.text).toContain('A user with this email already exists');
    expect(await t.sql(`select id from users where email = 'listed@example.org'`)).toHaveLength(1);
  });

  it('creates a user with a password who can then sign in', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: 'Bea Builder', email: 'Bea@Example.org', password: 'bea password 123' });
    expect(res.status).toBe(303);
    const [row] = await t.sql<{ id: number; email: string; is_admin: boolean; password_hash: string; invite_token_hash: string | null }>(
      `select id, email, is_admin, password_hash, invite_token_hash from users where email = 'bea@example.org'`,
    );
    expect(res.headers.location).toBe(`/admin/users/${row.id}`);
    expect(row.is_admin).toBe(false);
    expect(row.password_hash).toMatch(/^\$argon2id\$/);
    expect(row.invite_token_hash).toBeNull();
    const page = await admin.get(res.headers.location);
    expect(page.text).toContain('can now sign in');
    expect(page.text).not.toContain('/invite/');

    const bea = await loggedIn(t, 'bea@example.org', 'bea password 123');
    expect((await bea.get('/projects')).status).toBe(200);
  });

  it('creates an instance admin when the box is ticked', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: 'Second Admin', email: 'admin2@example.org', password: PASSWORD, isAdmin: 'on' });
    expect(res.status).toBe(303);
    const [row] = await t.sql<{ is_admin: boolean }>(`select is_admin from users where email = 'admin2@example.org'`);
    expect(row.is_admin).toBe(true);
  });

  it('creates a user with an invite link shown once; the link signs them in and then stops working', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: 'Ivy Invitee', email: 'ivy@example.org', password: '' });
    expect(res.status).toBe(201);
    const token = inviteFrom(res.text);
    expect(token).toBeTruthy();
    expect(res.text).toContain('expires in 7 days');
    expect(res.text).toContain('class="secret"');

    const [row] = await t.sql<{ id: number; password_hash: string | null; invite_token_hash: string }>(
      `select id, password_hash, invite_token_hash from users where email = 'ivy@example.org'`,
    );
    expect(row.password_hash).toBeNull();
    expect(row.invite_token_hash).not.toContain(token!);
    // shown once: the user's page does not show it again
    const again = await admin.get(`/admin/users/${row.id}`);
    expect(again.status).toBe(200);
    expect(again.text).not.toContain(token!);
    expect(again.text).toContain('Invited');

    const ivy = agent(t.app);
    const invitePage = await ivy.get(`/invite/${token}`);
    expect(invitePage.status).toBe(200);
    expect(invitePage.text).toContain('Ivy Invitee');
    const accept = await submitForm(ivy, `/invite/${token}`, `/invite/${token}`, { password: 'ivy password 123' });
    expect(accept.status).toBe(303);
    const projects = await ivy.get('/projects');
    expect(projects.status).toBe(200);
    expect(projects.text).toContain('Ivy Invitee');

    expect((await agent(t.app).get(`/invite/${token}`)).status).toBe(404);
    const reuse = await submitForm(agent(t.app), '/login', `/invite/${token}`, { password: 'another password 1' });
    expect(reuse.status).toBe(404);
    await loggedIn(t, 'ivy@example.org', 'ivy password 123');
  });

  it('edits name and admin flag, with 422 on invalid input', async () => {
    const user = await createUser(t, 'edit-me@example.org');
    const bad = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}`, { name: '', isAdmin: 'on' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('Name is required');
    const ok = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}`, { name: 'Edited Name', isAdmin: 'on' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toBe(`/admin/users/${user.id}`);
    const [row] = await t.sql<{ name: string; is_admin: boolean }>('select name, is_admin from users where id = $1', [user.id]);
    expect(row).toEqual({ name: 'Edited Name', is_admin: true });
    // unticking the box removes the flag again
    await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}`, { name: 'Edited Name' });
    const [after] = await t.sql<{ is_admin: boolean }>('select is_admin from users where id = $1', [user.id]);
    expect(after.is_admin).toBe(false);
  });

  it('refuses to remove your own admin flag or deactivate yourself', async () => {
    const res = await submitForm(admin, `/admin/users/${adminId}`, `/admin/users/${adminId}`, { name: 'Ada Admin' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('You cannot remove your own admin rights');
    const self = await submitForm(admin, `/admin/users/${adminId}`, `/admin/users/${adminId}/deactivation`, {});
    expect(self.status).toBe(422);
    expect(self.text).toContain('You cannot deactivate yourself');
    const [row] = await t.sql<{ is_admin: boolean; active: boolean }>('select is_admin, active from users where id = $1', [adminId]);
    expect(row).toEqual({ is_admin: true, active: true });
    expect((await admin.get('/admin/users')).status).toBe(200);
  });

  it('answers 404 for an unknown user id', async () => {
    expect((await admin.get('/admin/users/999999')).status).toBe(404);
    expect((await submitForm(admin, '/admin/users', '/admin/users/999999/deactivation', {})).status).toBe(404);
  });

  it('deactivates a user: their session ends and they cannot sign in; reactivation lets them back', async () => {
    const user = await createUser(t, 'dee@example.org');
    const dee = await loggedIn(t, 'dee@example.org');
    expect((await dee.get('/projects')).status).toBe(200);

    const res = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/deactivation`, {});
    expect(res.status).toBe(303);
    const [row] = await t.sql<{ active: boolean }>('select active from users where id = $1', [user.id]);
    expect(row.active).toBe(false);
    const page = await admin.get(`/admin/users/${user.id}`);
    expect(page.text).toContain('Deactivated');
    expect(page.text).toContain('Reactivate');

    const after = await dee.get('/projects');
    expect(after.status).toBe(302);
    expect(after.headers.location).toMatch(/^\/login/);
    const login = await submitForm(agent(t.app), '/login', '/login', { email: 'dee@example.org', password: PASSWORD });
    expect(login.status).toBe(401);

    const back = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/activation`, {});
    expect(back.status).toBe(303);
    await loggedIn(t, 'dee@example.org');
  });

  it('resets a password: the new one works, the old one and old sessions do not', async () => {
    const user = await createUser(t, 'reset@example.org');
    const old = await loggedIn(t, 'reset@example.org');
    const bad = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/password`, { password: 'short' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('Use at least 10 characters');
    expect((await old.get('/projects')).status).toBe(200);

    const res = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/password`, { password: 'brand new password' });
    expect(res.status).toBe(303);
    expect((await old.get('/projects')).status).toBe(302);
    expect((await submitForm(agent(t.app), '/login', '/login', { email: 'reset@example.org', password: PASSWORD })).status).toBe(401);
    await loggedIn(t, 'reset@example.org', 'brand new password');
  });

  it('resets a password to a fresh invite link, shown once, that replaces the password', async () => {
    const user = await createUser(t, 'reinvite@example.org');
    const res = await submitForm(admin, `/admin/users/${user.id}`, `/admin/users/${user.id}/password`, { password: '' });
    expect(res.status).toBe(200);
    const token = inviteFrom(res.text);
    expect(token).toBeTruthy();
    expect((await submitForm(agent(t.app), '/login', '/login', { email: 'reinvite@example.org', password: PASSWORD })).status).toBe(401);
    const client = agent(t.app);
    expect((await submitForm(client, `/invite/${token}`, `/invite/${token}`, { password: 'chosen password 1' })).status).toBe(303);
    expect((await client.get('/projects')).status).toBe(200);
  });

  it('sends admins to their account page to change their own password', async () => {
    const [before] = await t.sql<{ password_hash: string; session_version: number }>('select password_hash, session_version from users where id = $1', [adminId]);
    const res = await submitForm(admin, `/admin/users/${adminId}`, `/admin/users/${adminId}/password`, { password: 'admin new password' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Change your own password on your account page.');
    const [after] = await t.sql<{ password_hash: string; session_version: number }>('select password_hash, session_version from users where id = $1', [adminId]);
    expect(after).toEqual(before);
    expect((await admin.get('/admin/users')).status).toBe(200);
  });
});

describe('the account page', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
    await createAdmin(t);
    await createUser(t, 'me@example.org');
  });
  afterAll(() => t.close());

  it('shows name and email, and links to API tokens', async () => {
    const me = await loggedIn(t, 'me@example.org');
    const res = await me.get('/account');
    expect(res.status).toBe(200);
    expect(res.text).toContain('me@example.org');
    expect(res.text).toContain('href="/account/tokens"');
  });

  it('refuses a wrong current password with 422 and changes nothing', async () => {
    const me = await loggedIn(t, 'me@example.org');
    const [before] = await t.sql<{ password_hash: string }>(`select password_hash from users where email = 'me@example.org'`);
    const res = await submitForm(me, '/account', '/account/password', { currentPassword: 'not my password', password: 'a whole new password' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('The current password is not right');
    const [after] = await t.sql<{ password_hash: string }>(`select password_hash from users where email = 'me@example.org'`);
    expect(after.password_hash).toBe(before.password_hash);
  });

  it('validates the new password', async () => {
    const me = await loggedIn(t, 'me@example.org');
    const res = await submitForm(me, '/account', '/account/password', { currentPassword: PASSWORD, password: 'short' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Use at least 10 characters');
  });

  it('changes the password: this browser stays signed in, other sessions end', async () => {
    const me = await loggedIn(t, 'me@example.org');
    const elsewhere = await loggedIn(t, 'me@example.org');
    const res = await submitForm(me, '/account', '/account/password', { currentPassword: PASSWORD, password: 'my new password 42' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account');
    const page = await me.get('/account');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Your password is changed');
    expect((await elsewhere.get('/account')).status).toBe(302);
    expect((await submitForm(agent(t.app), '/login', '/login', { email: 'me@example.org', password: PASSWORD })).status).toBe(401);
    await loggedIn(t, 'me@example.org', 'my new password 42');
  });

  it('needs a signed-in user', async () => {
    const res = await agent(t.app).get('/account');
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/login?next=%2Faccount');
  });
});
