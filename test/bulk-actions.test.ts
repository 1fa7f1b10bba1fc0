import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workflow } from '../src/modules/workflow/workflow.ts';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

type Fields = Record<string, string | number | (string | number)[]>;

const encode = (fields: Fields) => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  return params.toString();
};

describe('Bulk actions on the task list', () => {
  let t: TestApp;
  let admin: Agent;
  let member: Agent;
  let projectId: number;
  let otherProjectId: number;
  let adminId: number;
  let leeId: number;
  let rayId: number;
  const stage: Record<string, number> = {};

  /** Posts a bulk action the way the page's htmx form does; returns the response. */
  async function bulk(client: Agent, fields: Fields, { htmx = true, project = projectId } = {}) {
    const page = await client.get(`/projects/${project}/tasks`);
    const req = client.post(`/projects/${project}/tasks/bulk`).type('form');
    if (htmx) req.set('HX-Request', 'true').set('HX-Target', 'bulk-outcome');
    return req.send(encode({ ...fields, _csrf: csrfFrom(page.text) }));
  }

  const task = async (name: string) =>
    (await t.sql<Record<string, any>>(`select t.*, trim_scale(t.priority_score)::text as score, s.name as stage_name
      from tasks t join stages s on s.id = t.stage_id where t.project_id = $1 and t.name = $2`, [projectId, name]))[0];
  const idOf = async (...names: string[]) =>
    (await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = any($2) order by id', [projectId, names])).map((r) => Number(r.id));
  const events = (name: string, kind: string) =>
    t.sql<Record<string, any>>(`select e.* from task_events e join tasks t on t.id = e.task_id where t.project_id = $1 and t.name = $2 and e.kind = $3 order by e.id`, [projectId, name, kind]);

  beforeAll(async () => {
    t = await createTestApp();
    const adminUser = await createAdmin(t);
    adminId = adminUser.id;
    leeId = (await createUser(t, 'lee@example.org')).id;
    rayId = (await createUser(t, 'ray@example.org')).id;
    const s = t.services();
    const project = await s.projects.create(adminUser, { name: 'Scenes', reviewStages: 1 });
    projectId = project.id;
    otherProjectId = (await s.projects.create(adminUser, { name: 'Other', reviewStages: 0 })).id;
    for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId])) stage[row.name] = Number(row.id);
    const access = await s.projects.access(adminUser, projectId, 'admin');
    await s.members.add(access, 'lee@example.org', { role: 'member', stageIds: [] });
    // Ray may only review
    await s.members.add(access, 'ray@example.org', { role: 'member', stageIds: [stage.Review_1] });
    // t-01..t-40 in Label, priority 0; t-01..t-10 in batch "alpha"
    await t.sql(
      `insert into tasks (project_id, name, stage_id, client_batch_id)
       select $1, format('t-%s', lpad(n::text, 2, '0')), $2, case when n <= 10 then 'alpha' end from generate_series(1, 40) n`,
      [projectId, stage.Label],
    );
    admin = await loggedIn(t, 'admin@example.org');
    member = await loggedIn(t, 'lee@example.org');
  });
  afterAll(() => t.close());

  it('sets the priority of ticked rows, skipping those that already have it, with one event each', async () => {
    const ids = await idOf('t-01', 't-02', 't-03');
    await t.sql(`update tasks set priority = 7 where id = $1`, [ids[2]]);
    const res = await bulk(admin, { action: 'priority', priority: 7, scope: 'selected', ids });
    expect(res.status).toBe(200);
    expect(res.headers['hx-trigger']).toBe('tasks-changed');
    expect(res.text).toContain('2 tasks changed, 1 skipped');
    expect(res.text).toContain('1 skipped: already has that priority');
    expect((await task('t-01')).priority).toBe(7);
    const [event] = await events('t-02', 'priority_changed');
    expect(event).toMatchObject({ actor_id: String(adminId), before: { priority: 0 }, after: { priority: 7 } });
    expect(await events('t-03', 'priority_changed')).toHaveLength(0);
  });

  it('accepts any 32-bit priority and refuses the rest without changing anything', async () => {
    const [id] = await idOf('t-04');
    expect((await bulk(admin, { action: 'priority', priority: -2147483648, ids: [id] })).status).toBe(200);
    expect((await task('t-04')).priority).toBe(-2147483648);
    for (const bad of ['2147483648', '1.5', 'abc', '']) {
      const res = await bulk(admin, { action: 'priority', priority: bad, ids: [id] });
      expect(res.status).toBe(422);
      expect(res.text).toContain('Priority is a whole number');
    }
    expect((await task('t-04')).priority).toBe(-2147483648);
  });

  it('applies to every task matching the filter minus exclusions', async () => {
    const excluded = await idOf('t-01', 't-02');
    const res = await bulk(admin, { action: 'batch', batch: 'beta-2', scope: 'all', filter: 'batch=alpha&batch_match=exact', excluded });
    expect(res.text).toContain('8 tasks changed, 0 skipped');
    const rows = await t.sql<{ client_batch_id: string | null; n: string }>(
      `select client_batch_id, count(*) as n from tasks where project_id = $1 group by 1 order by 1 nulls last`, [projectId]);
    expect(rows).toEqual([{ client_batch_id: 'alpha', n: '2' }, { client_batch_id: 'beta-2', n: '8' }, { client_batch_id: null, n: '30' }]);
    // an empty batch ID clears it
    await bulk(admin, { action: 'batch', batch: '', scope: 'all', filter: 'batch=beta-2&batch_match=exact' });
    expect((await task('t-05')).client_batch_id).toBeNull();
    expect((await events('t-05', 'batch_changed')).map((e) => e.after)).toEqual([{ clientBatchId: 'beta-2' }, { clientBatchId: null }]);
  });

  it('sets and clears the priority score (0–1, at most 9 decimals)', async () => {
    const ids = await idOf('t-06', 't-07');
    expect((await bulk(admin, { action: 'score', score: '0.123456789', ids })).text).toContain('2 tasks changed');
    expect((await task('t-06')).score).toBe('0.123456789');
    for (const bad of ['1.0000000001', '0.1234567891', '-0.1', 'x']) {
      expect((await bulk(admin, { action: 'score', score: bad, ids })).status).toBe(422);
    }
    expect((await bulk(admin, { action: 'score', score: '', ids })).text).toContain('2 tasks changed');
    expect((await task('t-07')).score).toBeNull();
  });

  it('holds and unholds', async () => {
    const ids = await idOf('t-08', 't-09');
    expect((await bulk(admin, { action: 'hold', ids })).text).toContain('2 tasks changed');
    expect((await bulk(admin, { action: 'hold', ids })).text).toContain('2 skipped: already held');
    expect((await task('t-08')).held).toBe(true);
    expect((await bulk(admin, { action: 'unhold', ids: [ids[0]] })).text).toContain('1 task changed');
    expect((await task('t-08')).held).toBe(false);
  });

  it('assigns, reserves, unassigns and releases, keeping the open assignment mirrored on the task', async () => {
    const ids = await idOf('t-11', 't-12');
    let res = await bulk(admin, { action: 'assign', member: leeId, ids });
    expect(res.text).toContain('2 tasks changed');
    let row = await task('t-11');
    expect(row).toMatchObject({ assignee_id: String(leeId), assignment_status: 'assigned', assignment_kind: 'manual' });
    const [assignment] = await t.sql<Record<string, any>>('select * from assignments where id = $1', [row.assignment_id]);
    expect(assignment).toMatchObject({ user_id: String(leeId), status: 'assigned', kind: 'manual', stage_id: String(stage.Label) });

    // Ray may only work in Review_1: skipped with the reason
    res = await bulk(admin, { action: 'reserve', member: rayId, ids });
    expect(res.text).toContain('2 skipped: the member may not work in its stage');

    // Lee's draft on t-12 is protected from reassignment and release
    await t.sql(`update assignments set status = 'saved' where task_id = $1 and status = 'assigned'`, [ids[1]]);
    await t.sql(`update tasks set assignment_status = 'saved' where id = $1`, [ids[1]]);
    res = await bulk(admin, { action: 'release', ids });
    expect(res.text).toContain('1 task changed, 1 skipped');
    expect(res.text).toContain('1 skipped: saved work (Unassign releases it)');
    expect(await task('t-11')).toMatchObject({ assignee_id: null, assignment_id: null, assignment_status: null });
    expect((await t.sql('select status from assignments where id = $1', [assignment.id]))[0]).toEqual({ status: 'released' });

    res = await bulk(admin, { action: 'reserve', member: leeId, ids: [ids[0]] });
    expect(await task('t-11')).toMatchObject({ assignee_id: String(leeId), assignment_kind: 'reserved' });

    res = await bulk(admin, { action: 'unassign', ids });
    expect(res.text).toContain('2 tasks changed');
    expect((await t.sql(`select count(*)::int as n from assignments where task_id = any($1) and status in ('assigned', 'saved')`, [ids]))[0]).toEqual({ n: 0 });
    const [unassigned] = await events('t-12', 'unassigned');
    expect(unassigned.before).toEqual({ assignee: 'lee', status: 'saved' });
  });

  it('reassigning closes the previous assignment as superseded', async () => {
    const [id] = await idOf('t-13');
    await bulk(admin, { action: 'assign', member: leeId, ids: [id] });
    await bulk(admin, { action: 'assign', member: adminId, ids: [id] });
    expect(await bulk(admin, { action: 'assign', member: adminId, ids: [id] }).then((r) => r.text)).toContain('1 skipped: already theirs');
    const rows = await t.sql<{ user_id: string; status: string }>('select user_id, status from assignments where task_id = $1 order by id', [id]);
    expect(rows).toEqual([{ user_id: String(leeId), status: 'superseded' }, { user_id: String(adminId), status: 'assigned' }]);
    // an unknown member is a clear error
    expect((await bulk(admin, { action: 'assign', member: 999999, ids: [id] })).text).toContain('Not a member of this project');
  });

  it('rejects completed work back to the labeler, acknowledges, and resets only untouched tasks', async () => {
    const [done, open, fresh] = await idOf('t-14', 't-15', 't-16');
    // t-14: labeled by Lee, finalized, now completed in Ground Truth
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind, finalized_at) values ($1, $2, $3, 'finalized', 'auto', now())`, [done, stage.Label, leeId]);
    await t.sql(`update tasks set state = 'completed', stage_id = $2, last_submitted_at = now(), priority = 3 where id = $1`, [done, stage['Ground Truth']]);

    let res = await bulk(admin, { action: 'reject', ids: [done, open] });
    expect(res.status).toBe(422);
    expect(res.text).toContain('A reason is required');
    res = await bulk(admin, { action: 'reject', reason: 'Boxes too loose', ids: [done, open] });
    expect(res.text).toContain('1 task changed, 1 skipped');
    expect(res.text).toContain('1 skipped: not completed or delivered');
    expect(await task('t-14')).toMatchObject({ state: 'rejected', stage_name: 'Label', assignee_id: String(leeId), assignment_kind: 'returned', priority: 3 });
    const [event] = await events('t-14', 'rejected');
    expect(event).toMatchObject({ note: 'Boxes too loose', before: { state: 'completed', stage: 'Ground Truth', assignee: null }, after: { state: 'rejected', stage: 'Label', assignee: 'lee' } });

    await t.sql(`update tasks set state = 'delivered' where id = $1`, [open]);
    res = await bulk(admin, { action: 'acknowledge', ids: [open, fresh] });
    expect(res.text).toContain('1 task changed, 1 skipped');
    expect((await task('t-15')).state).toBe('acknowledged');

    res = await bulk(admin, { action: 'reset', ids: [done, fresh] });
    expect(res.text).toContain('1 skipped: has submitted work');
    expect(res.text).toContain('1 skipped: already new');
  });

  it('sends tasks to a stage, applying its pre-assignment; Ground Truth completes them', async () => {
    const [a, b] = await idOf('t-17', 't-18');
    await t.sql(`update tasks set pre_assign = jsonb_build_object('Review_1', $2::bigint) where id = $1`, [a, rayId]);
    let res = await bulk(admin, { action: 'send_to_stage', stage: stage.Review_1, ids: [a, b] });
    expect(res.text).toContain('2 tasks changed');
    expect(await task('t-17')).toMatchObject({ stage_name: 'Review_1', assignee_id: String(rayId), assignment_kind: 'preassign', state: 'new' });
    expect(await task('t-18')).toMatchObject({ stage_name: 'Review_1', assignee_id: null });
    res = await bulk(admin, { action: 'send_to_stage', stage: stage['Ground Truth'], ids: [a] });
    expect(await task('t-17')).toMatchObject({ stage_name: 'Ground Truth', state: 'completed', assignee_id: null });
    expect((await t.sql('select status from assignments where task_id = $1', [a]))[0]).toEqual({ status: 'superseded' });
    // a stage of another project is unknown here
    const [foreign] = await t.sql<{ id: string }>('select id from stages where project_id = $1 limit 1', [otherProjectId]);
    expect((await bulk(admin, { action: 'send_to_stage', stage: foreign.id, ids: [b] })).text).toContain('Unknown stage');
  });

  it('refuses members, other projects and missing selections', async () => {
    const [id] = await idOf('t-19');
    const res = await bulk(member, { action: 'hold', ids: [id] });
    expect(res.status).toBe(403);
    expect((await task('t-19')).held).toBe(false);
    // a task of this project named through another project changes nothing
    expect((await bulk(admin, { action: 'hold', ids: [id] }, { project: otherProjectId })).text).toContain('0 tasks changed');
    expect((await bulk(admin, { action: 'hold', ids: [] })).text).toContain('Select at least one task');
    expect((await bulk(admin, { action: 'explode', ids: [id] })).text).toContain('Choose an action');
    expect((await task('t-19')).held).toBe(false);
  });

  it('works as a plain form: 303 back to the same view with a message', async () => {
    const [id] = await idOf('t-20');
    const res = await bulk(admin, { action: 'hold', ids: [id], filter: 'sort=priority' }, { htmx: false });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/projects/${projectId}/tasks?sort=priority`);
    const page = await admin.get(res.headers.location);
    expect(page.text).toContain('Hold: 1 task changed, 0 skipped');
  });

  it('needs the CSRF token', async () => {
    const res = await admin.post(`/projects/${projectId}/tasks/bulk`).type('form').send(encode({ action: 'hold', ids: [1] }));
    expect(res.status).toBe(403);
  });

  describe('more than 5,000 tasks', () => {
    beforeAll(async () => {
      await t.sql(`insert into tasks (project_id, name, stage_id, client_batch_id)
                   select $1, format('big-%s', n), $2, 'big' from generate_series(1, 6000) n`, [projectId, stage.Label]);
    });

    async function finished(operationId: number) {
      // the job runs in this process; poll its row until it ends
      for (let i = 0; i < 300; i++) {
        const [op] = await t.sql<Record<string, any>>('select * from bulk_operations where id = $1', [operationId]);
        if (op.status === 'completed' || op.status === 'failed') return op;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('bulk job did not finish');
    }

    it('runs as a job with a progress widget and reports exact counts', async () => {
      const [one] = await idOf('big-1');
      await t.sql('update tasks set priority = 5 where id = $1', [one]);
      const res = await bulk(admin, { action: 'priority', priority: 5, scope: 'all', filter: 'batch=big&batch_match=exact' });
      expect(res.status).toBe(200);
      const match = /hx-get="\/projects\/\d+\/bulk\/(\d+)"/.exec(res.text);
      expect(match).not.toBeNull();
      expect(res.text).toContain('every 1s');
      const op = await finished(Number(match![1]));
      expect(op).toMatchObject({ status: 'completed', total: 6000, processed: 6000, changed: 5999, skipped: { 'already has that priority': 1 } });
      expect((await t.sql(`select count(*)::int as n from tasks where project_id = $1 and client_batch_id = 'big' and priority = 5`, [projectId]))[0]).toEqual({ n: 6000 });
      expect((await t.sql(`select count(*)::int as n from task_events where kind = 'priority_changed' and after = '{"priority": 5}'`))[0].n).toBeGreaterThanOrEqual(5999);

      const widget = await admin.get(`/projects/${projectId}/bulk/${op.id}`).set('HX-Request', 'true').set('HX-Target', 'bulk-progress');
      expect(widget.text).toContain('5,999 tasks changed, 1 skipped');
      expect(widget.text).not.toContain('every 1s');
      expect(widget.headers['hx-trigger']).toBe('tasks-changed');
      // members cannot see it
      expect((await member.get(`/projects/${projectId}/bulk/${op.id}`)).status).toBe(403);
    });

    it('without JavaScript redirects to a self-refreshing progress page', async () => {
      const res = await bulk(admin, { action: 'hold', scope: 'all', filter: 'batch=big&batch_match=exact' }, { htmx: false });
      expect(res.status).toBe(303);
      const op = await finished(Number(/bulk\/(\d+)$/.exec(res.headers.location)![1]));
      expect(op.changed).toBe(6000);
      const page = await admin.get(res.headers.location);
      expect(page.text).toContain('6,000 tasks changed, 0 skipped');
      expect(page.text).not.toContain('http-equiv="refresh"');
    });

    it('a retried job resumes each lane after its last committed chunk and stops at its end', async () => {
      // lane 0 is big-1…big-3000 and has done up to big-1500, lane 1 is the rest and has done up to big-4500
      const [op] = await t.sql<{ id: string }>(
        `insert into bulk_operations (project_id, action, params, selection, status, total, processed, changed, resume_after, lane_ends, created_by_id)
         select $1, 'unhold', '{}', $2, 'running', 6000, 3000, 3000,
                array[(select id from tasks where project_id = $1 and name = 'big-1500'), (select id from tasks where project_id = $1 and name = 'big-4500')],
                array[(select id from tasks where project_id = $1 and name = 'big-3000'), ${Number.MAX_SAFE_INTEGER}],
                $3
         returning id`,
        [projectId, JSON.stringify({ filter: 'batch=big&batch_match=exact', excluded: [] }), adminId],
      );
      await t.services().bulk.runNow(Number(op.id));
      const [row] = await t.sql<Record<string, any>>('select * from bulk_operations where id = $1', [op.id]);
      expect(row).toMatchObject({ status: 'completed', processed: 6000, changed: 6000 });
      // (the earlier tests left all 6,000 held) this run released exactly the tasks after each
      // lane's resume point, up to its end
      const released = await t.sql<{ n: number }>(`select split_part(name, '-', 2)::int as n from tasks where project_id = $1 and client_batch_id = 'big' and not held order by 1`, [projectId]);
      const expected = [...Array.from({ length: 1500 }, (_, i) => 1501 + i), ...Array.from({ length: 1500 }, (_, i) => 4501 + i)];
      expect(released.map((r) => r.n)).toEqual(expected);
    });

    it('draws two lanes of about as many tasks each, contiguous in task id', async () => {
      const lanes = await new Workflow(t.app.orm.em.fork()).splitIntoLanes(sql`t.project_id = ${projectId} and t.client_batch_id = 'big'`);
      const [big] = await t.sql<{ first: string; middle: string }>(
        `select min(id) as first, (array_agg(id order by id))[3000] as middle from tasks where project_id = $1 and client_batch_id = 'big'`, [projectId]);
      expect(lanes).toEqual([{ afterId: 0, upTo: Number(big.middle) }, { afterId: Number(big.middle), upTo: Number.MAX_SAFE_INTEGER }]);
      const none = await new Workflow(t.app.orm.em.fork()).splitIntoLanes(sql`t.project_id = ${projectId} and t.client_batch_id = 'no such batch'`);
      expect(none).toEqual([{ afterId: 0, upTo: Number.MAX_SAFE_INTEGER }, { afterId: Number.MAX_SAFE_INTEGER, upTo: Number.MAX_SAFE_INTEGER }]);
    });

    it('two runners of one job (a worker thought dead that was not) change and count every task once', async () => {
      const [op] = await t.sql<{ id: string }>(
        `insert into bulk_operations (project_id, action, params, selection, created_by_id) values ($1, 'priority', '{"priority": 9}', $2, $3) returning id`,
        [projectId, JSON.stringify({ filter: 'batch=big&batch_match=exact', excluded: [] }), adminId],
      );
      const runs = await Promise.allSettled([t.services().bulk.runNow(Number(op.id)), t.services().bulk.runNow(Number(op.id))]);
      // a runner that lost the race for a lane has that lane's chunk rolled back (or found nothing left to do)
      for (const run of runs) if (run.status === 'rejected') expect(String(run.reason)).toMatch(/moved on under this runner/);
      // each may have lost one lane: then neither finished the job, and its retry (as pg-boss retries it) finds nothing left to do
      if (runs.every((run) => run.status === 'rejected')) await t.services().bulk.runNow(Number(op.id));
      const [row] = await t.sql<Record<string, any>>('select status, processed, changed from bulk_operations where id = $1', [op.id]);
      expect(row).toEqual({ status: 'completed', processed: 6000, changed: 6000 });
      const [counts] = await t.sql<Record<string, number>>(
        `select (select count(*)::int from tasks where project_id = $1 and client_batch_id = 'big' and priority = 9) as tasks,
                (select count(*)::int from task_events where project_id = $1 and kind = 'priority_changed' and after ->> 'priority' = '9') as events`,
        [projectId],
      );
      expect(counts).toEqual({ tasks: 6000, events: 6000 });
    });
  });
});
