import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';

const OUTPUT = [
  { name: 'label', type: 'choice', options: ['cat', 'dog'] },
  { name: 'tags', type: 'multi_choice', options: ['indoor', 'outdoor'] },
  { name: 'count', type: 'number' },
  { name: 'ok', type: 'boolean' },
  { name: 'note', type: 'text' },
  { name: 'box', type: 'json' },
];

/** The workflow of SPEC §4 through the API: save, drafts, finalize, review, issues, versions. */
describe('Queue workflow', () => {
  let t: TestApp;
  let admin: IUser;
  let adminToken: string;
  const tokens: Record<string, string> = {};
  const ids: Record<string, number> = {};

  const api = (method: 'get' | 'post' | 'put', path: string, token: string) =>
    request(t.app.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${token}`);

  async function project(name: string, { reviewPercent = 100, members = ['lena', 'rob'] } = {}) {
    const p = await t.services().projects.create(admin, { name, reviewStages: 1 });
    await t.sql(`update projects set output_schema = $2 where id = $1`, [p.id, JSON.stringify(OUTPUT)]);
    await t.sql(`update stages set review_percent = $2 where project_id = $1 and kind = 'review'`, [p.id, reviewPercent]);
    for (const m of members) await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [p.id, ids[m]]);
    const stages: Record<string, number> = {};
    for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [p.id])) stages[row.name] = Number(row.id);
    return { id: p.id, stages };
  }
  const add = async (projectId: number, stageId: number, name: string, extra: { priority?: number; score?: string; preAssign?: Record<string, number> } = {}) =>
    Number((await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id, priority, priority_score, pre_assign) values ($1, $2, $3, $4, $5, $6) returning id`,
      [projectId, name, stageId, extra.priority ?? 0, extra.score ?? null, JSON.stringify(extra.preAssign ?? {})]))[0].id);
  const row = async (id: number) =>
    (await t.sql<Record<string, any>>(`select t.*, trim_scale(t.priority_score)::text as score, s.name as stage_name from tasks t join stages s on s.id = t.stage_id where t.id = $1`, [id]))[0];
  const next = async (projectId: number, who: string, stage = 'Label') => {
    const res = await api('post', `/projects/${projectId}/stages/${stage}/next`, tokens[who]);
    expect(res.status).toBe(200);
    return res.body.items as { id: number; name: string; version: number }[];
  };

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    adminToken = (await t.services().apiTokens.create(admin, 'admin')).token;
    for (const name of ['lena', 'rob', 'mia']) {
      const { user } = await t.services().users.create({ email: `${name}@example.org`, name });
      ids[name] = user.id;
      tokens[name] = (await t.services().apiTokens.create(user, 'test')).token;
    }
  });
  afterAll(() => t.close());

  it('label → save (in progress) → submit draft → finalize → review reject returns to the same labeler with priority intact', async () => {
    const p = await project('Reject flow');
    const id = await add(p.id, p.stages.Label, 'img-1', { priority: 7, score: '0.25' });
    const [got] = await next(p.id, 'lena');
    expect(got).toMatchObject({ id, version: 0 });
    expect((await row(id)).state).toBe('new');

    const answers = { label: 'cat', tags: ['indoor'], count: 2, ok: true, note: 'a cat', box: { x: 1 } };
    const saved = await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers, version: 0 });
    expect(saved.status).toBe(200);
    expect(saved.body.version).toBe(1);
    let task = await row(id);
    expect(task).toMatchObject({ state: 'in_progress', assignment_status: 'saved', lease_expires_at: null });

    const draft = await api('post', `/projects/${p.id}/tasks/${id}/submission`, tokens.lena).send({});
    expect(draft.status).toBe(200);
    expect((await row(id)).assignment_status).toBe('pending_finalization');
    // pending drafts wait for "Finalize all": request next hands out nothing new here
    expect(await next(p.id, 'lena')).toEqual([]);
    const all = await api('post', `/projects/${p.id}/queue/finalization`, tokens.lena);
    expect(all.body).toEqual({ finalized: 1 });
    task = await row(id);
    expect(task).toMatchObject({ stage_name: 'Review_1', state: 'in_progress', assignee_id: null });
    expect(task.last_submitted_by_id).toBe(String(ids.lena));

    const [review] = await next(p.id, 'rob', 'Review_1');
    expect(review.id).toBe(id);
    const work = await api('get', `/projects/${p.id}/work/${id}`, tokens.rob);
    expect(work.body).toMatchObject({ answers, canAct: true, prefilledFrom: 'Submission by lena in Label' });
    const noReason = await api('post', `/projects/${p.id}/tasks/${id}/review`, tokens.rob).send({ decision: 'reject' });
    expect(noReason.status).toBe(422);
    const rejected = await api('post', `/projects/${p.id}/tasks/${id}/review`, tokens.rob).send({ decision: 'reject', reason: 'The tag is wrong' });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toEqual({ stage: { id: p.stages.Label, name: 'Label' }, state: 'rejected' });
    task = await row(id);
    expect(task).toMatchObject({ stage_name: 'Label', state: 'rejected', assignee_id: String(ids.lena), assignment_kind: 'returned', assignment_status: 'assigned', priority: 7, score: '0.25', lease_expires_at: null });
    const [event] = await t.sql<Record<string, any>>(`select * from task_events where task_id = $1 and kind = 'review_rejected'`, [id]);
    expect(event).toMatchObject({ actor_id: String(ids.rob), note: 'The tag is wrong' });

    // back in Lena's queue, her answers prefilled; her next save puts it in progress again
    const [back] = await next(p.id, 'lena');
    expect(back.id).toBe(id);
    const again = await api('get', `/projects/${p.id}/work/${id}`, tokens.lena);
    expect(again.body).toMatchObject({ answers, version: 0, state: 'rejected' });
    await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers: { ...answers, tags: ['outdoor'] }, version: 0 });
    expect((await row(id)).state).toBe('in_progress');
  });

  it('review correct stores the reviewer\'s answers and completes; 0 % review goes straight to Ground Truth', async () => {
    const p = await project('Correct flow');
    const id = await add(p.id, p.stages.Label, 'img-2');
    await next(p.id, 'lena');
    expect((await api('post', `/projects/${p.id}/tasks/${id}/finalization`, tokens.lena).send({ answers: { label: 'dog' }, version: 0 })).status).toBe(200);
    await next(p.id, 'rob', 'Review_1');
    const corrected = await api('post', `/projects/${p.id}/tasks/${id}/review`, tokens.rob).send({ decision: 'correct', answers: { label: 'cat' }, version: 0 });
    expect(corrected.body).toEqual({ stage: { id: expect.any(Number), name: 'Ground Truth' }, state: 'completed' });
    const sets = await t.sql<Record<string, any>>(`select kind, answers, submitted from answer_sets where task_id = $1 order by id`, [id]);
    expect(sets).toEqual([{ kind: 'submission', answers: { label: 'dog' }, submitted: true }, { kind: 'correction', answers: { label: 'cat' }, submitted: true }]);
    expect((await t.sql(`select outcome from assignments where task_id = $1 and outcome is not null`, [id]))).toEqual([{ outcome: 'corrected' }]);

    const off = await project('No review', { reviewPercent: 0 });
    const id2 = await add(off.id, off.stages.Label, 'img-3');
    await next(off.id, 'lena');
    const done = await api('post', `/projects/${off.id}/tasks/${id2}/finalization`, tokens.lena).send({});
    expect(done.body).toEqual({ stage: { id: expect.any(Number), name: 'Ground Truth' }, state: 'completed' });
    expect(await row(id2)).toMatchObject({ state: 'completed', assignee_id: null });
  });

  it('applies the pre-assignment when a task enters a stage', async () => {
    const p = await project('Pre-assigned');
    const id = await add(p.id, p.stages.Label, 'img-4', { preAssign: { Review_1: ids.rob } });
    await next(p.id, 'lena');
    await api('post', `/projects/${p.id}/tasks/${id}/finalization`, tokens.lena).send({});
    expect(await row(id)).toMatchObject({ stage_name: 'Review_1', assignee_id: String(ids.rob), assignment_kind: 'preassign', lease_expires_at: null });
    // Mia (also a reviewer) cannot take it
    await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [p.id, ids.mia]);
    expect(await next(p.id, 'mia', 'Review_1')).toEqual([]);
    expect((await next(p.id, 'rob', 'Review_1')).map((x) => x.id)).toEqual([id]);
  });

  it('a stale save answers 409 with both versions and loses nothing', async () => {
    const p = await project('Versions');
    const id = await add(p.id, p.stages.Label, 'img-5');
    await next(p.id, 'lena');
    const first = await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers: { note: 'first tab' }, version: 0 });
    expect(first.body.version).toBe(1);
    // a second tab still at version 0
    const stale = await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers: { note: 'second tab' }, version: 0 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: 'conflict', details: { currentVersion: 1, theirs: { note: 'first tab' }, yours: { note: 'second tab' } } });
    expect((await t.sql(`select answers, version from answer_sets where task_id = $1`, [id]))).toEqual([{ answers: { note: 'first tab' }, version: 1 }]);
    // a stale finalize is refused too, and the task stays in Label
    expect((await api('post', `/projects/${p.id}/tasks/${id}/finalization`, tokens.lena).send({ answers: { note: 'x' }, version: 0 })).status).toBe(409);
    expect((await row(id)).stage_name).toBe('Label');
    // saving on top of the current version works
    const retry = await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers: { note: 'second tab' }, version: 1 });
    expect(retry.body.version).toBe(2);
  });

  it('validates answers against the output schema (422 per field)', async () => {
    const p = await project('Validation');
    const id = await add(p.id, p.stages.Label, 'img-6');
    await next(p.id, 'lena');
    const bad = await api('put', `/projects/${p.id}/tasks/${id}/answers`, tokens.lena).send({ answers: { label: 'bird', count: 'many', extra: 1 }, version: 0 });
    expect(bad.status).toBe(422);
    expect(Object.keys(bad.body.details).sort()).toEqual(['count', 'extra', 'label']);
  });

  it('issues: the task leaves the queue, managers answer, it goes back to the same user', async () => {
    const p = await project('Issues');
    const id = await add(p.id, p.stages.Label, 'img-7');
    await next(p.id, 'lena');
    expect((await api('post', `/projects/${p.id}/tasks/${id}/issue`, tokens.lena).send({ comment: 'Image is blank' })).status).toBe(200);
    expect(await row(id)).toMatchObject({ has_open_issue: true, assignment_status: 'issue', assignee_id: String(ids.lena) });
    expect((await api('get', `/projects/${p.id}/queue`, tokens.lena)).body.items).toEqual([]);
    expect(await next(p.id, 'lena')).toEqual([]);
    expect((await api('post', `/projects/${p.id}/tasks/${id}/finalization`, tokens.lena).send({})).status).toBe(409);
    // members do not see the issue list; admins do
    expect((await api('get', `/projects/${p.id}/issues`, tokens.lena)).status).toBe(403);
    const list = await api('get', `/projects/${p.id}/issues`, adminToken);
    expect(list.body.items).toMatchObject([{ id, assignee: 'lena', comment: 'Image is blank' }]);
    expect((await api('post', `/projects/${p.id}/tasks/${id}/issue/resolution`, tokens.lena).send({ response: 'x' })).status).toBe(403);
    const resolved = await api('post', `/projects/${p.id}/tasks/${id}/issue/resolution`, adminToken).send({ response: 'Use the second frame' });
    expect(resolved.status).toBe(200);
    expect(await row(id)).toMatchObject({ has_open_issue: false, assignment_status: 'assigned', assignee_id: String(ids.lena) });
    const work = await api('get', `/projects/${p.id}/work/${id}`, tokens.lena);
    expect(work.body.assignment).toMatchObject({ issueComment: 'Image is blank', issueResponse: 'Use the second frame' });
    expect((await next(p.id, 'lena')).map((x) => x.id)).toEqual([id]);
  });

  it('reservations: counts per user and release back to the pool', async () => {
    const p = await project('Reservations');
    const a = await add(p.id, p.stages.Label, 'r-1');
    const b = await add(p.id, p.stages.Label, 'r-2');
    const c = await add(p.id, p.stages.Label, 'r-3');
    const assign = (taskIds: number[], email: string, reserve = false) =>
      api('post', `/projects/${p.id}/tasks/assign`, adminToken).send({ taskIds, email, reserve });
    await assign([a, b], 'lena@example.org', true);
    await assign([c], 'lena@example.org');
    await api('put', `/projects/${p.id}/tasks/${c}/answers`, tokens.lena).send({ answers: { note: 'keep me' }, version: 0 });
    const list = await api('get', `/projects/${p.id}/reservations`, adminToken);
    expect(list.body.items).toMatchObject([{ userId: ids.lena, total: 3, reserved: 2, assigned: 2, saved: 1 }]);
    expect((await api('get', `/projects/${p.id}/reservations`, tokens.lena)).status).toBe(403);
    const released = await api('post', `/projects/${p.id}/reservations/release`, adminToken).send({ email: 'lena@example.org' });
    expect(released.body).toEqual({ changed: 2, skipped: { 'saved work (Unassign releases it)': 1 } });
    expect((await row(a)).assignee_id).toBeNull();
    expect((await row(c)).assignee_id).toBe(String(ids.lena));
  });

  it('documents every queue, review, issue, reservation and delivery call in the OpenAPI document', async () => {
    const doc = await request(t.app.server).get('/api/docs/json');
    const paths = Object.keys(doc.body.paths);
    for (const path of [
      '/api/v1/projects/{projectId}/queue', '/api/v1/projects/{projectId}/stages/{stage}/next', '/api/v1/projects/{projectId}/work/{taskId}',
      '/api/v1/projects/{projectId}/tasks/{taskId}/answers', '/api/v1/projects/{projectId}/tasks/{taskId}/submission',
      '/api/v1/projects/{projectId}/tasks/{taskId}/finalization', '/api/v1/projects/{projectId}/queue/finalization',
      '/api/v1/projects/{projectId}/tasks/{taskId}/skip', '/api/v1/projects/{projectId}/tasks/{taskId}/issue',
      '/api/v1/projects/{projectId}/tasks/{taskId}/issue/resolution', '/api/v1/projects/{projectId}/issues',
      '/api/v1/projects/{projectId}/tasks/{taskId}/review', '/api/v1/projects/{projectId}/reservations',
      '/api/v1/projects/{projectId}/reservations/{userId}', '/api/v1/projects/{projectId}/reservations/release',
      '/api/v1/projects/{projectId}/deliveries', '/api/v1/projects/{projectId}/deliveries/acknowledgement',
      '/api/v1/projects/{projectId}/deliveries/rejection', '/api/v1/projects/{projectId}/webhook-deliveries',
      '/api/v1/projects/{projectId}/tasks/assign', '/api/v1/projects/{projectId}/tasks/stage',
    ]) expect(paths).toContain(path);
  });
});
