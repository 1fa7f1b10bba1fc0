import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

describe('All tasks list', () => {
  let t: TestApp;
  let admin: Agent;
  let member: Agent;
  let projectId: number;
  let otherProjectId: number;
  let memberId: number;

  beforeAll(async () => {
    t = await createTestApp();
    const adminUser = await createAdmin(t);
    const m = await createUser(t, 'lee@example.org');
    memberId = m.id;
    const project = await t.services().projects.create(adminUser, { name: 'Scenes', reviewStages: 1 });
    const other = await t.services().projects.create(adminUser, { name: 'Other', reviewStages: 0 });
    projectId = project.id;
    otherProjectId = other.id;
    const s = t.services();
    await s.members.add(await s.projects.access(adminUser, projectId, 'admin'), 'lee@example.org', { role: 'member', stageIds: [] });
    const [label] = await t.sql<{ id: string }>('select id from stages where project_id = $1 order by position', [projectId]);
    // 60 tasks: priorities -2..3, every 3rd rejected, every 4th in batch "alpha-7", task 5 assigned to the member
    await t.sql(
      `insert into tasks (project_id, name, stage_id, state, priority, priority_score, client_batch_id, created_at, data)
       select $1, format('img-%s', lpad(n::text, 3, '0')), $2, case when n % 3 = 0 then 'rejected' else 'new' end,
              (n % 6) - 2, case when n % 2 = 0 then n / 100.0 end, case when n % 4 = 0 then 'alpha-7' else 'beta' end,
              timestamptz '2026-01-01' + n * interval '1 hour', '{"title": "<script>alert(1)</script>"}'
       from generate_series(1, 60) n`,
      [projectId, label.id],
    );
    await t.sql(`update tasks set assignee_id = $1, assignment_status = 'assigned', assignment_kind = 'manual' where project_id = $2 and name = 'img-005'`, [memberId, projectId]);
    await t.sql(`insert into tasks (project_id, name, stage_id) values ($1, 'secret-other', (select id from stages where project_id = $1 limit 1))`, [otherProjectId]);
    admin = await loggedIn(t, 'admin@example.org');
    member = await loggedIn(t, 'lee@example.org');
  });
  afterAll(() => t.close());

  const ids = (html: string) => [...html.matchAll(/<td class="num mono">(\d+)<\/td>/g)].map((m) => Number(m[1]));
  const names = (html: string) => [...html.matchAll(/tasks\/\d+">([^<]+)<\/a>/g)].map((m) => m[1]);

  it('shows every task to admins with the default sort and a total', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/of <strong[^>]*>60<\/strong> tasks/);
    expect(ids(res.text)).toHaveLength(50);
    expect(names(res.text)[0]).toBe('img-060'); // none submitted: newest created first
    expect(res.text).not.toContain('secret-other');
  });

  it('shows members only the tasks assigned to them', async () => {
    const res = await member.get(`/projects/${projectId}/tasks`);
    expect(res.status).toBe(200);
    expect(names(res.text)).toEqual(['img-005']);
    expect((await member.get(`/projects/${otherProjectId}/tasks`)).status).toBe(404);
  });

  it.each([
    ['state=rejected', 20, (n: string[]) => n.every((x) => Number(x.slice(4)) % 3 === 0)],
    ['batch=alpha&batch_match=contains', 15, () => true],
    ['batch=alpha&batch_match=exact', 0, () => true],
    ['batch=alpha-7&batch_match=exact', 15, () => true],
    ['pmin=3&pmax=3', 10, () => true],
    ['smin=0.5', 6, () => true], // even n from 50 to 60 (score n/100)
    ['q=img-01', 10, (n: string[]) => n.every((x) => x.startsWith('img-01'))],
    [`assignee=${'MEMBER'}`, 1, (n: string[]) => n[0] === 'img-005'],
    ['status=unassigned', 59, () => true],
    ['held=yes', 0, () => true],
    ['created_from=2026-01-02&created_to=2026-01-02', 24, () => true], // hours 24..47
  ])('filters by %s', async (query, count, check) => {
    // a hand-written URL goes once to the view's canonical URL (defaults and empty fields dropped)
    const res = await admin.get(`/projects/${projectId}/tasks?${query.replace('MEMBER', String(memberId))}&size=100`).redirects(1);
    expect(res.status).toBe(200);
    expect(ids(res.text)).toHaveLength(count);
    expect(check(names(res.text))).toBe(true);
  });

  it('sorts by any column, both ways', async () => {
    const asc = await admin.get(`/projects/${projectId}/tasks?sort=priority&dir=asc&size=100`).redirects(1);
    const priorities = [...asc.text.matchAll(/<td class="num">(-?\d+)<\/td>/g)].map((m) => Number(m[1]));
    expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
    const byName = await admin.get(`/projects/${projectId}/tasks?sort=name&dir=asc&size=25`).redirects(1);
    expect(names(byName.text).slice(0, 3)).toEqual(['img-001', 'img-002', 'img-003']);
    for (const sort of ['id', 'created', 'submitted', 'state', 'stage', 'score', 'batch', 'assignee']) {
      expect((await admin.get(`/projects/${projectId}/tasks?sort=${sort}&dir=asc`).redirects(1)).status).toBe(200);
    }
  });

  it('answers 422 with the errors for malformed values, never 500', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks?pmin=abc&smax=2&created_from=2026-13-01&sort=password_hash`);
    expect(res.status).toBe(422);
    expect(res.text).toContain('Priority is a whole number');
    expect(res.text).toContain('Score is a number from 0 to 1');
    expect(ids(res.text)).toHaveLength(0);
  });

  it('clamps a page beyond the end and escapes task data', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks?page=99`);
    expect(res.status).toBe(200);
    expect(res.text).toContain('Page 2 of 2');
    expect(ids(res.text)).toHaveLength(10);
  });

  it('answers an htmx request with the table fragment and the canonical URL to push', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks?state=rejected&q=&pmin=&sort=submitted&dir=desc`).set('HX-Request', 'true').set('HX-Target', 'task-results');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<html');
    expect(res.headers['hx-push-url']).toBe(`/projects/${projectId}/tasks?state=rejected`);
    expect(res.headers.vary).toContain('HX-Request');
  });

  it('a form sent without JavaScript lands on the canonical URL of its view', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks?q=&state=rejected&assignee=&held=&issue=&pmin=&pmax=&smin=&smax=&batch=&batch_match=contains&upload=&created_from=&created_to=&submitted_from=&submitted_to=&sort=submitted&dir=desc&size=50`);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/projects/${projectId}/tasks?state=rejected`);
    // the canonical URL itself is served, whatever the order of its parameters
    expect((await admin.get(`/projects/${projectId}/tasks?state=rejected`)).status).toBe(200);
    expect((await admin.get(`/projects/${projectId}/tasks?state=new&size=100`)).status).toBe(200);
    expect((await admin.get(`/projects/${projectId}/tasks?size=100&state=new`)).status).toBe(200);
  });

  it('shows the active filters as chips that each remove one filter', async () => {
    const res = await admin.get(`/projects/${projectId}/tasks?batch=alpha&pmin=0&state=new&state=rejected`);
    expect(res.status).toBe(200);
    const chips = [...res.text.matchAll(/<a class="chip" href="([^"]+)"[^>]*>([^<]+) <span/g)].map((m) => [m[2], m[1].replaceAll('&amp;', '&')]);
    expect(chips).toEqual([
      ['State: New', `/projects/${projectId}/tasks?batch=alpha&pmin=0&state=rejected`],
      ['State: Rejected', `/projects/${projectId}/tasks?batch=alpha&pmin=0&state=new`],
      ['Priority ≥ 0', `/projects/${projectId}/tasks?batch=alpha&state=new&state=rejected`],
      ['Batch contains: alpha', `/projects/${projectId}/tasks?pmin=0&state=new&state=rejected`],
    ]);
    // lists are checkboxes in dropdowns, not multi-select boxes
    expect(res.text).not.toContain('<select id="f-state" name="state" multiple');
    expect(res.text).toMatch(/<input type="checkbox" name="state" value="rejected" checked>/);
  });

  it('a search for a task ID shows that task first', async () => {
    const [{ id }] = await t.sql<{ id: string }>(`select id from tasks where project_id = $1 and name = 'img-001'`, [projectId]);
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, 'zz-' || $2 || '-' || n, (select id from stages where project_id = $1 order by position limit 1) from generate_series(1, 3) n`, [projectId, id]);
    const res = await admin.get(`/projects/${projectId}/tasks?q=${id}`);
    expect(res.status).toBe(200);
    expect(ids(res.text)[0]).toBe(Number(id));
    expect(names(res.text).length).toBeGreaterThan(1); // names containing the digits follow
  });

  it('members see only the filters that apply to them', async () => {
    const res = await member.get(`/projects/${projectId}/tasks`);
    expect(res.text).toContain('name="state"');
    expect(res.text).not.toContain('name="assignee"');
    expect(res.text).not.toContain('name="upload"');
    expect(res.text).not.toContain('name="held"');
  });
});
