import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

const MANAGER_PAGES = ['reservations', 'uploads', 'issues', 'delivery', 'archives', 'exports'];
const ADMIN_PAGES = ['settings', 'schema', 'members'];
const MANAGER_API = ['reservations', 'webhook-deliveries', 'uploads', 'exports', 'issues'];

/** A role refusal answers the same on the pages and the API: 403 naming the role inside the project, 404 outside it. */
describe('role refusals', () => {
  let t: TestApp;
  let projectId: number;
  const pages: Record<string, Agent> = {};
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await createAdmin(t);
    projectId = (await t.services().projects.create(admin, { name: 'Scenes', reviewStages: 1 })).id;
    const access = await t.services().projects.access(admin, projectId, 'admin');
    for (const [email, role] of [['mia@example.org', 'member'], ['max@example.org', 'manager'], ['out@example.org', null]] as const) {
      const user = await createUser(t, email);
      if (role) await t.services().members.add(access, email, { role, stageIds: [] });
      pages[email] = await loggedIn(t, email);
      tokens[email] = (await t.services().apiTokens.create(user, 'script')).token;
    }
  });
  afterAll(() => t.close());

  const page = (who: string, path: string) => pages[who].get(`/projects/${projectId}/${path}`);
  const api = (who: string, path: string) => request(t.app.server).get(`/api/v1/projects/${projectId}/${path}`).set('Authorization', `Bearer ${tokens[who]}`);

  it('a member gets 403 naming the role on manager and admin pages, with a way back to the project', async () => {
    for (const path of [...MANAGER_PAGES, ...ADMIN_PAGES]) {
      const res = await page('mia@example.org', path);
      expect(res.status, path).toBe(403);
      expect(res.text, path).toMatch(ADMIN_PAGES.includes(path) ? /needs the admin role/ : /needs the manager or admin role/);
      expect(res.text, path).toContain(`href="/projects/${projectId}"`);
      expect(res.text, path).not.toContain('No such project');
    }
  });

  it('a manager gets 403 on the admin pages only', async () => {
    for (const path of MANAGER_PAGES) expect((await page('max@example.org', path)).status, path).toBe(200);
    for (const path of ADMIN_PAGES) {
      const res = await page('max@example.org', path);
      expect(res.status, path).toBe(403);
      expect(res.text).toContain('needs the admin role');
    }
  });

  it('the API answers a member the same 403 naming the role', async () => {
    for (const path of MANAGER_API) {
      const res = await api('mia@example.org', path);
      expect(res.status, path).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden', message: expect.stringContaining('manager or admin role') });
    }
  });

  it('outside the user\'s access both answer 404', async () => {
    for (const path of [...MANAGER_PAGES, ...ADMIN_PAGES, 'tasks']) expect((await page('out@example.org', path)).status, path).toBe(404);
    for (const path of [...MANAGER_API, 'tasks']) expect((await api('out@example.org', path)).status, path).toBe(404);
  });

  it('the sidebar shows a member only what the role can open', async () => {
    const res = await page('mia@example.org', 'tasks');
    expect(res.status).toBe(200);
    const nav = res.text.slice(res.text.indexOf('<aside class="sidebar"'), res.text.indexOf('</aside>'));
    for (const path of [...MANAGER_PAGES, ...ADMIN_PAGES]) expect(nav).not.toContain(`/projects/${projectId}/${path}"`);
    expect(nav).toContain(`/projects/${projectId}/queue"`);
  });
});
