import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** The HTML side: My queue, the Label button, the work page, stale saves, issues and reservations pages. */
describe('Queue pages', () => {
  let t: TestApp;
  let admin: Agent;
  let lee: Agent;
  let projectId: number;
  let leeId: number;
  const base = () => `/projects/${projectId}`;

  const post = async (client: Agent, page: string, action: string, fields: Record<string, string | string[]>) => {
    const csrf = csrfFrom((await client.get(page)).text);
    return client.post(action).type('form').send({ ...fields, _csrf: csrf });
  };
  const idOf = async (name: string) => Number((await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = $2', [projectId, name]))[0].id);

  beforeAll(async () => {
    t = await createTestApp();
    const a = await createAdmin(t);
    leeId = (await createUser(t, 'lee@example.org')).id;
    const s = t.services();
    projectId = (await s.projects.create(a, { name: 'Pages', reviewStages: 0 })).id;
    await s.members.add(await s.projects.access(a, projectId), 'lee@example.org', { role: 'member', stageIds: [] });
    await t.sql(`update projects set output_schema = $2, input_schema = $3 where id = $1`, [projectId,
      JSON.stringify([{ name: 'label', type: 'choice', options: ['cat', 'dog'] }, { name: 'tags', type: 'multi_choice', options: ['a', 'b'] }, { name: 'note', type: 'text' }]),
      JSON.stringify([{ name: 'image', type: 'image_url', required: true }, { name: 'caption', type: 'text', required: false }])]);
    await t.sql(`insert into tasks (project_id, name, stage_id, priority, data) select $1, n, (select id from stages where project_id = $1 and kind = 'label'), p, $2
                 from (values ('second', 1), ('first', 0), ('third', 2)) v(n, p)`,
      [projectId, JSON.stringify({ image: 'javascript:alert(1)', caption: '<script>alert(1)</script>' })]);
    // model answers for "first"
    await t.sql(`insert into answer_sets (task_id, kind, answers) values ($1, 'default', '{"label": "dog", "tags": ["b"]}')`, [await idOf('first')]);
    admin = await loggedIn(t, 'admin@example.org');
    lee = await loggedIn(t, 'lee@example.org');
  });
  afterAll(() => t.close());

  it('Label opens the highest-priority task with inputs escaped and model answers prefilled', async () => {
    const queue = await lee.get(`${base()}/queue`);
    expect(queue.status).toBe(200);
    expect(queue.text).toContain('>Label</button>');
    const stageId = (await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]))[0].id;
    const res = await post(lee, `${base()}/queue`, `${base()}/queue/next`, { stage: stageId });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`${base()}/work/${await idOf('first')}`);
    const page = await lee.get(res.headers.location);
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('<script>alert(1)</script>');
    expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page.text).not.toContain('href="javascript:');
    expect(page.text).toMatch(/<option value="dog" selected>/);
    expect(page.text).toMatch(/value="b" checked/);
    expect(page.text).toContain('Prefilled from: Default / model answers');
    expect(page.text).toContain('accesskey="f"');
    expect(page.text).toContain('Keyboard shortcuts');
  });

  it('saves, refuses a stale save with both versions shown, and finalize opens the next task', async () => {
    const id = await idOf('first');
    const work = `${base()}/work/${id}`;
    const saved = await post(lee, work, `${work}/answers`, { version: '0', 'answer.label': 'cat', 'answer.tags': ['a', 'b'], 'answer.note': 'mine' });
    expect(saved.status).toBe(303);
    expect((await t.sql(`select answers, version from answer_sets where task_id = $1 and kind = 'submission'`, [id]))).toEqual([{ answers: { label: 'cat', tags: ['a', 'b'], note: 'mine' }, version: 1 }]);
    // a stale tab (version 0) → 409, the page shows the saved version and keeps what was typed
    const stale = await post(lee, work, `${work}/answers`, { version: '0', 'answer.label': 'dog', 'answer.note': 'from the old tab' });
    expect(stale.status).toBe(409);
    expect(stale.text).toContain('Saved version (v1)');
    expect(stale.text).toContain('from the old tab');
    expect(stale.text).toContain('name="version" value="1"');
    expect((await t.sql(`select version from answer_sets where task_id = $1 and kind = 'submission'`, [id]))).toEqual([{ version: 1 }]);
    // a bad answer → 422 next to the field
    const bad = await post(lee, work, `${work}/answers`, { version: '1', 'answer.label': 'bird' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('label must be one of the options');

    const done = await post(lee, work, `${work}/finalization`, { version: '1', 'answer.label': 'cat' });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe(`${base()}/work/${await idOf('second')}`);
    expect((await t.sql(`select state from tasks where id = $1`, [id]))).toEqual([{ state: 'completed' }]);
  });

  it('members get 404 for others\' work pages; admins see them read-only', async () => {
    const id = await idOf('second');
    const mine = await lee.get(`${base()}/work/${id}`);
    expect(mine.status).toBe(200);
    const other = await createUser(t, 'max@example.org');
    const s = t.services();
    await s.members.add(await s.projects.access((await s.users.users.findById(1))!, projectId), 'max@example.org', { role: 'member', stageIds: [] });
    const max = await loggedIn(t, 'max@example.org');
    expect((await max.get(`${base()}/work/${id}`)).status).toBe(404);
    expect(other.id).toBeGreaterThan(0);
    const adminView = await admin.get(`${base()}/work/${id}`);
    expect(adminView.status).toBe(200);
    expect(adminView.text).toContain('only the assignee can work on it');
    expect(adminView.text).not.toContain(`${base()}/work/${id}/finalization`);
    expect(adminView.text).not.toContain('formaction=');
  });

  it('issues page: a raised issue is answered and goes back to the same user', async () => {
    const id = await idOf('second');
    const work = `${base()}/work/${id}`;
    const raised = await post(lee, work, `${work}/issue`, { comment: 'Broken image' });
    expect(raised.status).toBe(303);
    expect((await lee.get(`${base()}/issues`)).status).toBe(403);
    const page = await admin.get(`${base()}/issues`);
    expect(page.text).toContain('Broken image');
    const answered = await post(admin, `${base()}/issues`, `${base()}/issues/${id}`, { response: 'Use the thumbnail' });
    expect(answered.status).toBe(303);
    expect((await t.sql(`select assignee_id, assignment_status, has_open_issue from tasks where id = $1`, [id]))).toEqual([{ assignee_id: String(leeId), assignment_status: 'assigned', has_open_issue: false }]);
    expect((await lee.get(work)).text).toContain('Use the thumbnail');
  });

  it('reservations page lists holders, expands one and releases', async () => {
    const page = await admin.get(`${base()}/reservations`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('lee');
    const expanded = await admin.get(`${base()}/reservations?user=${leeId}`);
    expect(expanded.text).toContain('id="held-tasks"');
    const released = await post(admin, `${base()}/reservations`, `${base()}/reservations/release`, { user: String(leeId) });
    expect(released.status).toBe(303);
    expect((await t.sql(`select assignee_id from tasks where id = $1`, [await idOf('second')]))).toEqual([{ assignee_id: null }]);
    expect((await lee.get(`${base()}/reservations`)).status).toBe(403);
  });

  it('each work action is its own resource: the buttons post the one form to them, and a review takes a decision', async () => {
    const s = t.services();
    const a = await s.users.get(Number((await t.sql<{ id: string }>(`select id from users where email = 'admin@example.org'`))[0].id));
    const p = (await s.projects.create(a, { name: 'Resources', reviewStages: 1 })).id;
    await s.members.add(await s.projects.access(a, p), 'lee@example.org', { role: 'member', stageIds: [] });
    await t.sql(`update projects set output_schema = $2 where id = $1`, [p, JSON.stringify([{ name: 'note', type: 'text' }])]);
    const stage = async (kind: string) => (await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = $2`, [p, kind]))[0].id;
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, n, $2 from (values ('r1'), ('r2')) v(n)`, [p, await stage('label')]);
    const taskOf = async (name: string) => Number((await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = $2', [p, name]))[0].id);
    const stageKind = async (name: string) => (await t.sql<{ kind: string }>(`select s.kind from tasks t join stages s on s.id = t.stage_id where t.id = $1`, [await taskOf(name)]))[0].kind;

    const first = `/projects/${p}/work/${await taskOf('r1')}`;
    expect((await post(lee, `/projects/${p}/queue`, `/projects/${p}/queue/next`, { stage: await stage('label') })).headers.location).toBe(first);
    const page = (await lee.get(first)).text;
    expect(page).toContain(`<form method="post" action="${first}/answers" class="form" id="work-form">`);
    for (const action of ['answers', 'submission', 'finalization', 'skip']) expect(page).toContain(`formaction="${first}/${action}"`);
    expect(page).toContain(`action="${first}/issue"`);
    expect(page).not.toContain(`${first}/review`);

    // skip: the task waits at the end of the queue and the next one opens
    const skipped = await post(lee, first, `${first}/skip`, {});
    expect(skipped.status).toBe(303);
    const second = `/projects/${p}/work/${await taskOf('r2')}`;
    expect(skipped.headers.location).toBe(second);
    expect((await lee.get(second)).text).toContain(`Task ${await taskOf('r1')} skipped`);
    expect((await post(lee, second, `${second}/finalization`, { version: '0', 'answer.note': 'a cat' })).status).toBe(303);
    expect(await stageKind('r2')).toBe('review');

    // the reviewer's buttons post a decision to the review resource
    const review = await post(admin, `/projects/${p}/queue`, `/projects/${p}/queue/next`, { stage: await stage('review') });
    expect(review.headers.location).toBe(second);
    const reviewPage = (await admin.get(second)).text;
    expect(reviewPage).toContain(`formaction="${second}/review" name="decision" value="accept"`);
    expect(reviewPage).toContain(`formaction="${second}/review" name="decision" value="correct"`);
    expect(reviewPage).toContain(`<form method="post" action="${second}/review" class="form">`);
    // a decision that is none of the three: the form again, with what was typed
    const bad = await post(admin, second, `${second}/review`, { decision: 'maybe', version: '0', 'answer.note': 'typed by the reviewer' });
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('Choose accept, correct or reject');
    expect(bad.text).toContain('typed by the reviewer');
    expect(await stageKind('r2')).toBe('review');
    const rejected = await post(admin, second, `${second}/review`, { decision: 'reject', reason: 'Too vague' });
    expect(rejected.status).toBe(303);
    expect(await stageKind('r2')).toBe('label');
    // the old action switch is gone
    expect((await post(lee, first, first, { action: 'save', version: '0' })).status).toBe(404);
  });

  it('the work page stays small whatever the queue, and My queue is paginated', async () => {
    const s = t.services();
    const a = (await t.sql<{ id: string }>(`select id from users where email = 'admin@example.org'`))[0].id;
    const big = (await s.projects.create(await s.users.get(Number(a)), { name: 'Big queue', reviewStages: 0 })).id;
    await s.members.add(await s.projects.access(await s.users.get(Number(a)), big), 'lee@example.org', { role: 'member', stageIds: [] });
    const label = (await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [big]))[0].id;
    // 401 tasks reserved to lee, with long names
    await t.sql(`insert into tasks (project_id, name, stage_id, priority_score) select $1, 'a-rather-long-task-name-that-would-wrap-' || n, $2, 0.123456789
                 from generate_series(1, 401) n`, [big, label]);
    await t.sql(`with a as (insert into assignments (task_id, stage_id, user_id, status, kind)
                   select id, stage_id, $2, 'assigned', 'reserved' from tasks where project_id = $1 returning id, task_id)
                 update tasks t set assignment_id = a.id, assignee_id = $2, assignment_status = 'assigned', assignment_kind = 'reserved' from a where t.id = a.task_id`, [big, leeId]);
    const [{ id: first }] = await t.sql<{ id: string }>(`select min(id)::text as id from tasks where project_id = $1`, [big]);
    const work = await lee.get(`/projects/${big}/work/${first}`);
    expect(work.status).toBe(200);
    expect(Buffer.byteLength(work.text)).toBeLessThan(60_000);
    expect(work.text).toContain('401 assigned or saved');
    expect((work.text.match(/class="queue-next-name"/g) ?? []).length).toBe(5);
    expect(work.text).toContain(`/projects/${big}/queue">Full queue`);

    const page1 = await lee.get(`/projects/${big}/queue`);
    expect(page1.status).toBe(200);
    expect((page1.text.match(/\/work\/\d+"/g) ?? []).length).toBe(2 * 50); // ID and name link per row
    expect(page1.text).toContain('Page 1 of 9');
    const page9 = await lee.get(`/projects/${big}/queue?page=9`);
    expect((page9.text.match(/\/work\/\d+"/g) ?? []).length).toBe(2 * 1);
    expect((await lee.get(`/projects/${big}/queue?page=0`)).status).toBe(422);
  });
});
