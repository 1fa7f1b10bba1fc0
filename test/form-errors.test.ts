import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

/** Forms report every error at once, and errors inside a project keep its layout (issue 13 §4). */
describe('Form errors and error pages', () => {
  let t: TestApp;
  let admin: Agent;
  let projectId: number;

  beforeAll(async () => {
    t = await createTestApp();
    const a = await createAdmin(t);
    projectId = (await t.services().projects.create(a, { name: 'Forms', reviewStages: 1 })).id;
    await createUser(t, 'maya@example.org');
    await t.services().members.add(await t.services().projects.access(a, projectId), 'maya@example.org', { role: 'manager', stageIds: [] });
    admin = await loggedIn(t, 'admin@example.org');
  });
  afterAll(() => t.close());

  it('the new-user form names every missing field in one answer', async () => {
    const res = await submitForm(admin, '/admin/users/new', '/admin/users', { name: '', email: '' });
    expect(res.status).toBe(422);
    expect(res.text).toContain('Name is required');
    expect(res.text).toContain('Email is required');
  });

  it('the project settings form reports every bad field at once', async () => {
    const res = await submitForm(admin, `/projects/${projectId}/settings`, `/projects/${projectId}/settings`,
      { name: '', slug: 'Not A Slug!', queueSize: '0', reservationMinutes: 'x', instructionsUrl: 'ftp://example.org' });
    expect(res.status).toBe(422);
    const errors = [...res.text.matchAll(/class="field-error"[^>]*>([^<]+)</g)].map((m) => m[1]);
    expect(errors.length).toBeGreaterThanOrEqual(4);
  });

  it('a manager on Settings gets a 403 page inside the project, naming the role and linking back', async () => {
    const maya = await loggedIn(t, 'maya@example.org');
    const res = await maya.get(`/projects/${projectId}/settings`);
    expect(res.status).toBe(403);
    expect(res.text).toContain('the admin role');
    expect(res.text).toContain('aria-label="Project"'); // the project's sidebar
    expect(res.text).toContain(`href="/projects/${projectId}"`);
    // and the sidebar does not offer what the role cannot open
    expect(res.text).not.toContain(`href="/projects/${projectId}/settings"`);
  });

  it('an error inside a project keeps its layout; a project outside the user access stays a plain 404', async () => {
    const bad = await admin.get(`/projects/${projectId}/tasks/999999999`);
    expect(bad.status).toBe(404);
    expect(bad.text).toContain('aria-label="Project"');
    const outsider = await loggedIn(t, (await createUser(t, 'out@example.org')).email);
    const hidden = await outsider.get(`/projects/${projectId}/tasks`);
    expect(hidden.status).toBe(404);
    expect(hidden.text).not.toContain('Forms');
    expect(hidden.text).not.toContain('aria-label="Project"');
  });
});
