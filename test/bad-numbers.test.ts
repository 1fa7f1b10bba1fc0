import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, csrfFrom, type Agent, type TestApp } from './helpers/app.ts';

/** Values that once reached PostgreSQL as ids or numbers and answered 500. */
const BAD = ['9999999999999999999', 'Infinity', '1e400', '-1', '1e3', '1.5'];
/** Numeric query and form fields that routes read (by schema or by hand). */
const NUMERIC_FIELDS = ['page', 'size', 'limit', 'cursor', 'pmin', 'pmax', 'smin', 'smax', 'upload', 'stage', 'assignee', 'sets', 'range',
  'userId', 'memberId', 'stageId', 'taskId', 'ids', 'excluded', 'priority', 'priorityScore', 'queueSize', 'reservationMinutes',
  'autoArchiveAfterDays', 'reviewPercent', 'version', 'archiveId', 'uploadId', 'exportId', 'operationId'];
/** Routes that end the test's own session, or take no input at all (adding a review stage). */
const SKIP = new Set(['POST /logout', 'POST /projects/:projectId/stages']);

type Route = TestApp['routes'][number];

describe('out-of-range and malformed numbers never reach the database', () => {
  let t: TestApp;
  let admin: Agent;
  let token: string;
  let projectId: number;

  const snapshot = async () => (await t.sql(`
    select (select count(*) from tasks) tasks, (select count(*) from assignments) assignments, (select count(*) from task_events) events,
           (select coalesce(sum(hashtext(t::text)), 0) from tasks t) tasks_sum,
           (select coalesce(sum(hashtext(a::text)), 0) from assignments a) assignments_sum,
           (select count(*) from users) users, (select count(*) from project_members) members, (select count(*) from stages) stages,
           (select coalesce(sum(hashtext(p::text)), 0) from projects p) projects_sum`))[0];

  beforeAll(async () => {
    t = await createTestApp();
    const user = await createAdmin(t);
    const services = t.services();
    projectId = (await services.projects.create(user, { name: 'Scenes', reviewStages: 1 })).id;
    await t.sql(`insert into tasks (project_id, name, stage_id)
                 select $1, 't-' || n, (select id from stages where project_id = $1 order by position limit 1) from generate_series(1, 5) n`, [projectId]);
    token = (await services.apiTokens.create(user, 'script')).token;
    admin = await loggedIn(t, 'admin@example.org');
    // members holding reserved work: a write that loses its target would release it
    for (const email of ['lee@example.org', 'kim@example.org']) {
      await createUser(t, email);
      await t.services().members.add(await t.services().projects.access(user, projectId, 'admin'), email, { role: 'member', stageIds: [] });
    }
    const ids = (await t.sql<{ id: string }>('select id from tasks where project_id = $1 order by id', [projectId])).map((r) => Number(r.id));
    for (const [email, taskIds] of [['lee@example.org', ids.slice(0, 3)], ['kim@example.org', ids.slice(3)]] as const) {
      const res = await request(t.app.server).post(`/api/v1/projects/${projectId}/tasks/assign`).set('Authorization', `Bearer ${token}`)
        .send({ taskIds, email, reserve: true });
      expect(res.status).toBe(200);
    }
  });
  afterAll(() => t.close());

  /** Each way to fill a route's path: every parameter bad, or a real project with the rest bad. */
  function paths(url: string, bad: string): string[] {
    const all = url.replace(/:(\w+)/g, () => encodeURIComponent(bad));
    const inProject = url.replace(':projectId', String(projectId)).replace(/:(\w+)/g, () => encodeURIComponent(bad));
    return [...new Set([all, inProject])].filter((path) => !path.includes('*'));
  }

  function numericBody(route: Route, bad: string): string {
    const properties = ((route.schema?.body as { properties?: Record<string, { type?: string; items?: { type?: string } }> })?.properties) ?? {};
    const json = bad === '1.5' || /^-?\d+$/.test(bad) || bad === '1e400' || bad === '1e3' ? bad : JSON.stringify(bad);
    const fields = new Set([...Object.keys(properties), ...NUMERIC_FIELDS]);
    const entries = [...fields].map((key) => (properties[key]?.type === 'array' ? `"${key}":[${json}]` : `"${key}":${json}`));
    const body = `{${entries.join(',')}}`;
    return (route.schema?.body as { type?: string })?.type === 'array' ? `[${body}]` : body;
  }

  it('walks every route with each bad value: no answer is a 5xx, and nothing changes', async () => {
    const before = await snapshot();
    const failures: string[] = [];
    const page = await admin.get('/projects');
    const csrf = csrfFrom(page.text);
    for (const route of t.routes) {
      if (SKIP.has(`${route.method} ${route.url}`)) continue;
      for (const bad of BAD) {
        const query = NUMERIC_FIELDS.map((key) => `${key}=${encodeURIComponent(bad)}`).join('&');
        for (const path of paths(route.url, bad)) {
          const url = `${path}?${query}`;
          let res;
          if (route.url.startsWith('/api/v1')) {
            const call = request(t.app.server)[route.method.toLowerCase() as 'get'](url).set('Authorization', `Bearer ${token}`);
            res = route.method === 'GET' || route.method === 'DELETE' ? await call : await call.set('Content-Type', 'application/json').send(numericBody(route, bad));
          } else if (route.method === 'GET') {
            res = await admin.get(url);
          } else {
            const form: Record<string, string> = { _csrf: csrf };
            for (const key of NUMERIC_FIELDS) form[key] = bad;
            res = await admin[route.method.toLowerCase() as 'post'](url).type('form').send(form);
          }
          if (res.status >= 500) failures.push(`${route.method} ${url} → ${res.status}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(await snapshot()).toEqual(before);
  }, 240_000);

  it('refuses a release whose user cannot be read, and releases nothing', async () => {
    const held = async () => (await t.sql<{ n: number }>(`select count(*)::int n from assignments where status = 'assigned'`))[0].n;
    const before = await held();
    expect(before).toBe(5);
    const api = await request(t.app.server).post(`/api/v1/projects/${projectId}/reservations/release`).set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json').send('{"userId":1000000000000000000}');
    expect(api.status).toBe(422);
    const csrf = csrfFrom((await admin.get(`/projects/${projectId}/reservations`)).text);
    for (const user of ['100000000000000000', '1e3', '-1', 'Infinity']) {
      const form = await admin.post(`/projects/${projectId}/reservations/release`).type('form').send({ _csrf: csrf, user });
      expect(form.status).toBe(422);
    }
    expect(await held()).toBe(before);
  });

  it('reads an id beyond the safe range as a missing resource and a malformed one as invalid', async () => {
    const api = (path: string) => request(t.app.server).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`);
    expect((await api(`/projects/${projectId}/tasks/9999999999999999999`)).status).toBe(404);
    expect((await api(`/projects/${projectId}/tasks/1e3`)).status).toBe(422);
    expect((await api(`/projects/${projectId}/tasks/Infinity`)).status).toBe(422);
    expect((await api(`/projects/${projectId}/tasks?limit=1e400`)).status).toBe(422);
    expect((await api(`/projects/${projectId}/tasks?limit=1e1`)).status).toBe(422);
    expect((await api(`/projects/${projectId}/tasks?limit=10`)).status).toBe(200);
    expect((await admin.get('/admin/users/Infinity')).status).toBe(422);
    expect((await admin.get('/admin/users/9999999999999999999')).status).toBe(404);
    expect((await admin.get(`/projects/${projectId}/work/9999999999999999999`)).status).toBe(404);
    const priority = await request(t.app.server).post(`/api/v1/projects/${projectId}/tasks/priority`).set('Authorization', `Bearer ${token}`)
      .set('Content-Type', 'application/json').send('[{"taskId":9999999999999999999,"priority":1}]');
    expect(priority.status).toBe(422);
  });
});
