import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/**
 * The Overview dashboard and GET /api/v1/projects/:id/stats (issue 13 §1) over known data:
 * counts per stage and state, throughput per day, the People table, health, the member's own
 * view, the range parameter and stored figures refreshed by the job.
 */
describe('Project dashboard', () => {
  let t: TestApp;
  let admin: Agent;
  let maya: Agent;
  let lee: Agent;
  let projectId: number;
  let stage: Record<string, number>;
  let ids: Record<string, number>;
  let adminToken: string;
  let leeToken: string;
  let oldestPoolTask: number;
  const base = () => `/projects/${projectId}`;
  const api = (path: string, token = adminToken) => request(t.app.server).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`);
  const stats = async (query = '', token = adminToken) => {
    const res = await api(`${base()}/stats${query}`, token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };
  const today = () => new Date().toISOString().slice(0, 10);

  /** tasks in a stage: `n` of them with the given columns */
  async function tasks(n: number, stageName: string, cols: Record<string, unknown> = {}): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const keys = Object.keys(cols);
      const rows = await t.sql<{ id: string }>(
        `insert into tasks (project_id, name, stage_id${keys.map((k) => `, ${k}`).join('')})
         values ($1, $2, $3${keys.map((_, j) => `, $${j + 4}`).join('')}) returning id`,
        [projectId, `${stageName}-${Object.values(cols).join('-')}-${i}-${Math.random()}`, stage[stageName], ...Object.values(cols)],
      );
      out.push(Number(rows[0].id));
    }
    return out;
  }
  /** an open assignment mirrored on the task, as the workflow keeps it */
  async function hold(taskId: number, userId: number, status: string, lease = false) {
    const kind = lease ? 'auto' : 'manual';
    const [a] = await t.sql<{ id: string }>(`insert into assignments (task_id, stage_id, user_id, status, kind) select id, stage_id, $2, $3, $4 from tasks where id = $1 returning id`, [taskId, userId, status, kind]);
    await t.sql(`update tasks set assignment_id = $2, assignee_id = $3, assignment_status = $4, assignment_kind = $5, has_open_issue = ($4 = 'issue'),
                 lease_expires_at = case when $6::boolean then now() + interval '30 minutes' end where id = $1`, [taskId, a.id, userId, status, kind, lease]);
  }
  /** finished work: a finalized assignment `daysAgo` days ago (claimed 10 minutes before) */
  async function finalized(taskId: number, stageName: string, userId: number, daysAgo: number, outcome: string | null = null) {
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind, outcome, created_at, finalized_at)
                 values ($1, $2, $3, 'finalized', 'auto', $4, now() - make_interval(days => $5) - interval '10 minutes', now() - make_interval(days => $5))`,
    [taskId, stage[stageName], userId, outcome, daysAgo]);
  }
  async function clientEvent(taskId: number, kind: string, daysAgo: number) {
    await t.sql(`insert into task_events (task_id, project_id, kind, created_at) values ($1, $2, $3, now() - make_interval(days => $4))`, [taskId, projectId, kind, daysAgo]);
  }

  beforeAll(async () => {
    t = await createTestApp();
    const a = await createAdmin(t);
    ids = {
      maya: (await createUser(t, 'maya@example.org')).id,
      lee: (await createUser(t, 'lee@example.org')).id,
      sam: (await createUser(t, 'sam@example.org')).id,
      rui: (await createUser(t, 'rui@example.org')).id,
    };
    await createUser(t, 'outsider@example.org');
    const s = t.services();
    projectId = (await s.projects.create(a, { name: 'Dash', reviewStages: 1 })).id;
    const access = await s.projects.access(a, projectId);
    await s.members.add(access, 'maya@example.org', { role: 'manager', stageIds: [] });
    for (const email of ['lee@example.org', 'sam@example.org', 'rui@example.org']) await s.members.add(access, email, { role: 'member', stageIds: [] });
    stage = Object.fromEntries((await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId])).map((r) => [r.name, Number(r.id)]));

    // Label: 5 in the pool (one waiting for 5 days), 1 held; lee holds 2 assigned + 1 saved; sam 1 pending, 1 skipped, 1 issue
    const pool = await tasks(5, 'Label');
    oldestPoolTask = pool[2];
    await t.sql(`update tasks set last_activity_at = now() - interval '5 days' where id = $1`, [oldestPoolTask]);
    await tasks(1, 'Label', { held: true });
    const [l1, l2, l3, s1, s2, s3] = await tasks(6, 'Label', { state: 'in_progress' });
    await hold(l1, ids.lee, 'assigned');
    await hold(l2, ids.lee, 'assigned');
    await hold(l3, ids.lee, 'saved');
    await hold(s1, ids.sam, 'pending_finalization');
    await hold(s2, ids.sam, 'skipped');
    await hold(s3, ids.sam, 'issue');
    // Review_1: 2 in the pool; rui holds 1 whose automatic lease ends in 30 minutes
    const [r1, r2, r3] = await tasks(3, 'Review_1', { state: 'in_progress' });
    await hold(r3, ids.rui, 'assigned', true);
    // Ground Truth: 3 completed (one whose webhook delivery failed), 1 delivered, 1 acknowledged
    const [g1, g2, g3] = await tasks(3, 'Ground Truth', { state: 'completed' });
    await t.sql(`update tasks set delivery_status = 'failed' where id = $1`, [g3]);
    const [g4] = await tasks(1, 'Ground Truth', { state: 'delivered' });
    const [g5] = await tasks(1, 'Ground Truth', { state: 'acknowledged' });
    // an archived task counts nowhere
    const [archived] = await tasks(1, 'Label');
    const [arch] = await t.sql<{ id: string }>(`insert into archives (project_id, task_count) values ($1, 1) returning id`, [projectId]);
    await t.sql(`update tasks set archive_id = $2 where id = $1`, [archived, arch.id]);

    // finished work: lee labeled g1, g2 today, g3 3 days ago, r1 20 days ago, r2 40 days ago; sam labeled g4 today
    await finalized(g1, 'Label', ids.lee, 0);
    await finalized(g2, 'Label', ids.lee, 0);
    await finalized(g3, 'Label', ids.lee, 3);
    await finalized(r1, 'Label', ids.lee, 20);
    await finalized(r2, 'Label', ids.lee, 40);
    await finalized(g4, 'Label', ids.sam, 0);
    // rui reviewed: g1 accepted today, g3 rejected 2 days ago (lee's labels), g4 corrected today (sam's)
    await finalized(g1, 'Review_1', ids.rui, 0, 'accepted');
    await finalized(g3, 'Review_1', ids.rui, 2, 'rejected');
    await finalized(g4, 'Review_1', ids.rui, 0, 'corrected');
    // the client: g4 and g5 delivered today, g5 acknowledged today, g2 rejected 10 days ago, g1 delivered 50 days ago
    await clientEvent(g4, 'delivered', 0);
    await clientEvent(g5, 'delivered', 0);
    await clientEvent(g5, 'acknowledged', 0);
    await clientEvent(g2, 'rejected', 10);
    await clientEvent(g1, 'delivered', 50);
    // running jobs
    await t.sql(`insert into exports (project_id, format, status, rows_total, rows_written) values ($1, 'csv', 'running', 100, 40)`, [projectId]);
    await t.sql(`insert into bulk_operations (project_id, action, status, total) values ($1, 'priority', 'queued', 9000)`, [projectId]);
    await t.sql(`insert into exports (project_id, format, status) values ($1, 'json', 'completed')`, [projectId]);

    admin = await loggedIn(t, 'admin@example.org');
    maya = await loggedIn(t, 'maya@example.org');
    lee = await loggedIn(t, 'lee@example.org');
    adminToken = (await s.apiTokens.create(a, 'dash')).token;
    leeToken = (await s.apiTokens.create((await s.users.users.findById(ids.lee))!, 'lee')).token;
  });
  afterAll(() => t.close());

  it('counts tasks per stage and state, and the work in each stage', async () => {
    const body = await stats();
    expect(body.scope).toBe('project');
    expect(body.progress.total).toBe(20);
    const [label, review, gt] = body.progress.stages;
    expect(label).toMatchObject({ name: 'Label', total: 12, states: { new: 6, in_progress: 6 },
      work: { pool: 5, assigned: 2, saved: 1, pendingFinalization: 1, skipped: 1, issue: 1, held: 1 } });
    expect(review).toMatchObject({ name: 'Review_1', total: 3, work: { pool: 2, assigned: 1, saved: 0 } });
    expect(gt).toMatchObject({ name: 'Ground Truth', total: 5, states: { completed: 3, delivered: 1, acknowledged: 1 }, work: { pool: 0 } });
  });

  it('throughput: finalized per day and stage, reviews and client outcomes in the range', async () => {
    const body = await stats();
    expect(body.range).toBe(30);
    expect(body.throughput.days).toHaveLength(30);
    expect(body.to).toBe(today());
    expect(body.throughput.days.at(-1)).toBe(today());
    const [label, review] = body.throughput.stages;
    // Label: 3 today (lee 2, sam 1), 1 three days ago, 1 twenty days ago; forty days ago is outside
    expect(label.counts.at(-1)).toBe(3);
    expect(label.counts.at(-4)).toBe(1);
    expect(label.counts.at(-21)).toBe(1);
    expect(label.total).toBe(5);
    expect(review.total).toBe(3);
    expect(body.throughput.stages).toHaveLength(2);
    expect(body.throughput.reviews).toEqual({ accepted: 1, corrected: 1, rejected: 1 });
    expect(body.throughput.client).toEqual({ delivered: 2, acknowledged: 1, rejected: 1 });

    const week = await stats('?range=7');
    expect(week.throughput.days).toHaveLength(7);
    expect(week.throughput.stages[0].total).toBe(4);
    expect(week.throughput.client).toEqual({ delivered: 2, acknowledged: 1, rejected: 0 });
    const quarter = await stats('?range=90');
    expect(quarter.throughput.stages[0].total).toBe(6);
    expect(quarter.throughput.client.delivered).toBe(3);
  });

  it('people: finalized counts, median claim → finalize, review outcomes of their labels, open work', async () => {
    const body = await stats();
    const person = (email: string) => body.people.find((p: { email: string }) => p.email === email);
    expect(person('lee@example.org')).toMatchObject({
      role: 'member', finalized7: 3, finalized30: 4, finalizedInRange: 4, medianClaimToFinalizeSeconds: 600,
      labelOutcomes: { reviewed: 2, accepted: 1, corrected: 0, rejected: 1 },
      openWork: { assigned: 2, saved: 1, pendingFinalization: 0, skipped: 0, issue: 0, total: 3 },
    });
    expect(person('sam@example.org')).toMatchObject({
      finalized7: 1, finalized30: 1, labelOutcomes: { reviewed: 1, corrected: 1 },
      openWork: { pendingFinalization: 1, skipped: 1, issue: 1, total: 3 },
    });
    expect(person('rui@example.org')).toMatchObject({
      finalized7: 3, reviewsGiven: { accepted: 1, corrected: 1, rejected: 1 }, labelOutcomes: { reviewed: 0 }, openWork: { assigned: 1, total: 1 },
    });
    // people without work who are not annotators are not listed
    expect(person('maya@example.org')).toBeUndefined();
    expect((await stats('?range=90')).people.find((p: { email: string }) => p.email === 'lee@example.org').finalizedInRange).toBe(5);
  });

  it('health: oldest pool task per stage, expiring leases, open issues, failed deliveries, running jobs', async () => {
    const { health } = await stats();
    expect(health.oldestInPool[0]).toMatchObject({ stage: { id: stage.Label, name: 'Label' }, pool: 5, taskId: oldestPoolTask });
    expect(Date.now() - Date.parse(health.oldestInPool[0].waitingSince)).toBeGreaterThan(4.9 * 86_400_000);
    expect(health.oldestInPool[1]).toMatchObject({ stage: { id: stage.Review_1, name: 'Review_1' }, pool: 2 });
    expect(health.oldestInPool).toHaveLength(2);
    expect(health.leasesExpiringNextHour).toBe(1);
    expect(health.openIssues).toBe(1);
    expect(health.failedDeliveries).toBe(1);
    expect(health.running.exports).toEqual([expect.objectContaining({ label: 'CSV', status: 'running', done: 40, total: 100 })]);
    expect(health.running.bulk).toEqual([expect.objectContaining({ label: 'priority', status: 'queued', total: 9000 })]);
    expect(health.running.uploads).toEqual([]);
  });

  it('a member sees only their own figures, in the API and on the page', async () => {
    const own = await stats('', leeToken);
    expect(own.scope).toBe('own');
    expect(own.people.map((p: { email: string }) => p.email)).toEqual(['lee@example.org']);
    expect(own.progress.total).toBe(3);
    expect(own.progress.stages[0].work).toMatchObject({ pool: 0, assigned: 2, saved: 1, skipped: 0 });
    expect(own.throughput.stages[0].total).toBe(4);
    expect(own.throughput.stages[1].total).toBe(0);
    // the reviews of their labels, not the project's
    expect(own.throughput.reviews).toEqual({ accepted: 1, corrected: 0, rejected: 1 });
    expect(own.throughput.client).toBeNull();
    expect(own.health).toBeNull();

    const page = await lee.get(base());
    expect(page.status).toBe(200);
    expect(page.text).toContain('your own figures');
    expect(page.text).toContain('lee@example.org');
    expect(page.text).not.toContain('sam@example.org');
    expect(page.text).not.toContain('rui@example.org');
    expect(page.text).not.toContain('Client outcomes');
    expect(page.text).not.toContain('Failed webhook deliveries');
  });

  it('the page shows the figures as text and accessible SVG charts, and links to the filtered lists', async () => {
    const page = await maya.get(base());
    expect(page.status).toBe(200);
    const html = page.text;
    expect(html).toMatch(/<svg class="dash-bars"[^>]*role="img"[^>]*aria-labelledby="dash-tp-title dash-tp-desc"/);
    expect(html).toContain('<title id="dash-tp-title">Tasks finalized per day and stage');
    expect(html).toMatch(/<desc id="dash-tp-desc">Label: 5; Review_1: 3 finalized in 30 days\.<\/desc>/);
    // the numbers are on the page as text, with links into the task list
    expect(html).toMatch(/<span class="dash-stage-total num">12<\/span>/);
    expect(html).toContain(`href="/projects/${projectId}/tasks?held=no&amp;stage=${stage.Label}&amp;status=unassigned">5</a>`);
    expect(html).toContain(`href="/projects/${projectId}/tasks?stage=${stage.Label}&amp;status=issue">1</a>`);
    expect(html).toContain(`href="/projects/${projectId}/tasks/${oldestPoolTask}"`);
    expect(html).toContain(`href="/projects/${projectId}/reservations?user=${ids.lee}"`);
    expect(html).toContain('Failed webhook deliveries');
    expect(html).toContain(`href="/projects/${projectId}/delivery"`);
    expect(html).toContain('Export #');
    expect(html).toMatch(/aria-current="page">30 days</);
    // the dashboard refreshes itself
    expect(html).toMatch(/id="dashboard"[^>]*hx-trigger="every 30s"/);
    // the stage list is still there
    expect(html).toContain('Workflow and allocation');
  });

  it('the People table sorts by URL parameters, without JavaScript', async () => {
    const order = (html: string) => [...html.matchAll(/<span class="muted small dash-email">([^<]+)<\/span>/g)].map((m) => m[1]);
    expect(order((await admin.get(`${base()}?dir=asc&sort=name`)).text)).toEqual(['lee@example.org', 'rui@example.org', 'sam@example.org']);
    expect(order((await admin.get(`${base()}?dir=desc&sort=name`)).text)).toEqual(['sam@example.org', 'rui@example.org', 'lee@example.org']);
    const byOpen = await admin.get(`${base()}?dir=desc&sort=open`);
    expect(order(byOpen.text)).toEqual(['lee@example.org', 'sam@example.org', 'rui@example.org']);
    expect(byOpen.text).toMatch(/aria-sort="descending"><a href="[^"]*sort=open/);
  });

  it('htmx asks for the dashboard alone; the range lives in the URL', async () => {
    const fragment = await admin.get(`${base()}?range=7`).set('HX-Request', 'true').set('HX-Target', 'dashboard');
    expect(fragment.status).toBe(200);
    expect(fragment.text.trimStart()).toMatch(/^<div id="dashboard"/);
    expect(fragment.text).not.toContain('<html');
    expect(fragment.text).toMatch(/aria-current="page">7 days</);
    expect(fragment.text).toContain(`hx-get="/projects/${projectId}?range=7"`);
    const full = await admin.get(`${base()}?range=90`);
    expect(full.text).toContain('<html');
    expect(full.text).toMatch(/aria-current="page">90 days</);
  });

  it('refuses a bad range or sort with 422, and outsiders with 404', async () => {
    for (const q of ['?range=14', '?range=abc', '?range=1e1', '?sort=bogus', '?dir=sideways']) {
      expect((await admin.get(`${base()}${q}`)).status, q).toBe(422);
    }
    const bad = await api(`${base()}/stats?range=365`);
    expect(bad.status).toBe(422);
    expect(bad.body.error).toBe('validation_failed');
    const outsider = await loggedIn(t, 'outsider@example.org');
    expect((await outsider.get(base())).status).toBe(404);
    expect((await api('/projects/999999/stats')).status).toBe(404);
    expect((await request(t.app.server).get(`/api/v1${base()}/stats`)).status).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await request(t.app.server).get('/api/docs/json')).body;
    const op = doc.paths['/api/v1/projects/{projectId}/stats'].get;
    expect(op.operationId).toBe('getProjectStats');
    expect(op.parameters.find((p: { name: string }) => p.name === 'range').schema.enum).toEqual([7, 30, 90]);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '401', '404', '422']));
  });

});

/** Stored figures without a worker in this process: what the page says and what the job does, with no race. */
describe('Dashboard of a large project', () => {
  let t: TestApp;
  let admin: Agent;
  let projectId: number;
  let token: string;
  const stats = async () => {
    const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/stats`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const addTasks = (n: number) => t.sql(`insert into tasks (project_id, name, stage_id) select $1, 'task-' || g || '-' || random(), (select id from stages where project_id = $1 and kind = 'label') from generate_series(1, $2::int) g`, [projectId, n]);

  beforeAll(async () => {
    t = await createTestApp({ RUN_WORKERS: 'false' });
    const a = await createAdmin(t);
    projectId = (await t.services().projects.create(a, { name: 'Big', reviewStages: 1 })).id;
    token = (await t.services().apiTokens.create(a, 'big')).token;
    admin = await loggedIn(t, 'admin@example.org');
    await addTasks(3);
  });
  afterAll(() => t.close());

  it('is served from stored figures that the job refreshes, and the page says how old they are', async () => {
    expect((await stats()).progress.total).toBe(3);
    // pretend the figures took 2 s to compute a minute ago
    await t.sql(`update dashboard_snapshots set compute_ms = 2000, computed_at = now() - interval '1 minute' where project_id = $1 and user_id is null and range_days = 30`, [projectId]);
    await addTasks(2);
    const stale = await stats();
    expect(stale.live).toBe(false);
    expect(stale.ageSeconds).toBeGreaterThanOrEqual(60);
    expect(stale.progress.total).toBe(3);
    const page = await admin.get(`/projects/${projectId}`);
    expect(page.text).toMatch(/Updated 1 min ago · refreshing/);
    expect(page.text).toMatch(/id="dashboard"[^>]*hx-trigger="every 5s"/);
    // the requests asked the job for fresh figures (throttled: once per 15 s slot and scope)
    const jobs = await t.sql<{ n: number }>(`select count(*)::int as n from pgboss.job where name = 'refresh-dashboard' and data->>'projectId' = $1`, [String(projectId)]);
    expect(jobs[0].n).toBeGreaterThanOrEqual(1);
    // what the job does
    expect(await t.services().stats.refreshNow(projectId, null, 30)).toBe(true);
    const fresh = await stats();
    expect(fresh.progress.total).toBe(5);
    // the refresh measured this small project again: its figures are computed for every request from now on
    expect(fresh.live).toBe(true);
    // a refresh for someone who is not a member stores nothing
    expect(await t.services().stats.refreshNow(projectId, 999_999, 30)).toBe(false);
  });

  it('figures nobody looked at for a while are computed again when that is cheap enough', async () => {
    await t.sql(`update dashboard_snapshots set compute_ms = 400, computed_at = now() - interval '1 hour' where project_id = $1 and user_id is null and range_days = 30`, [projectId]);
    await addTasks(1);
    const body = await stats();
    expect(body.live).toBe(true);
    expect(body.progress.total).toBe(6);
  });
});
