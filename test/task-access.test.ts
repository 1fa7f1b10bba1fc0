import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** Who may read a task and its answers (issue 11, items 1 and 2). */
describe('task access follows who holds the task now', () => {
  let t: TestApp;
  let admin: IUser;
  let projectId: number;
  let stages: Record<string, number>;
  const tokens: Record<string, string> = {};
  const clients: Record<string, Agent> = {};

  const api = (method: 'get' | 'post' | 'put', path: string, who: string) =>
    request(t.app.server)[method](`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${tokens[who]}`);
  /** Every way to read a task: the page, the task call, its answers, a comparison of two sets. */
  async function reads(who: string, taskId: number, sets?: number[]) {
    const compare = sets ? `/tasks/${taskId}/answers/compare?sets=${sets.join(',')}` : null;
    return {
      page: (await clients[who].get(`/projects/${projectId}/tasks/${taskId}`)).status,
      task: (await api('get', `/tasks/${taskId}`, who)).status,
      answers: (await api('get', `/tasks/${taskId}/answers`, who)).status,
      ...(compare ? { compare: (await api('get', compare, who)).status, comparePage: (await clients[who].get(`/projects/${projectId}${compare}`)).status } : {}),
    };
  }
  const allStatus = (status: number, compare = false) => ({ page: status, task: status, answers: status, ...(compare ? { compare: status, comparePage: status } : {}) });

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    tokens.admin = (await t.services().apiTokens.create(admin, 'admin')).token;
    clients.admin = await loggedIn(t, 'admin@example.org');
    projectId = (await t.services().projects.create(admin, { name: 'Scenes', reviewStages: 1 })).id;
    await t.sql(`update projects set output_schema = $2 where id = $1`, [projectId, JSON.stringify([{ name: 'note', type: 'text' }])]);
    await t.sql(`update stages set review_percent = 100 where project_id = $1 and kind = 'review'`, [projectId]);
    stages = {};
    for (const row of await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId])) stages[row.name] = Number(row.id);
    for (const name of ['ana', 'ben', 'rev']) {
      const { user } = await t.services().users.create({ email: `${name}@example.org`, name, password: 'correct horse battery' });
      await t.sql(`insert into project_members (project_id, user_id, role) values ($1, $2, 'member')`, [projectId, user.id]);
      tokens[name] = (await t.services().apiTokens.create(user, 'test')).token;
      clients[name] = await loggedIn(t, `${name}@example.org`);
    }
  });
  afterAll(() => t.close());

  const add = async (name: string) =>
    Number((await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id) values ($1, $2, $3) returning id`, [projectId, name, stages.Label]))[0].id);

  it('a member reassigned away from a task no longer reads it, nor the new holder\'s draft', async () => {
    const w = await add('task-w');
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [w], email: 'ana@example.org' })).status).toBe(200);
    expect(await reads('ana', w)).toEqual(allStatus(200));
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [w], email: 'ben@example.org' })).status).toBe(200);
    const work = await api('get', `/work/${w}`, 'ben');
    expect(work.status).toBe(200);
    const saved = await api('put', `/tasks/${w}/answers`, 'ben').send({ answers: { note: 'ben draft secret' }, version: work.body.version });
    expect(saved.status).toBe(200);

    const sets = (await api('get', `/tasks/${w}/answers`, 'admin')).body.items as { id: number; answers: Record<string, unknown> }[];
    const draft = sets.find((s) => s.answers.note === 'ben draft secret')!;
    expect(draft).toBeDefined();
    // ana held it once: she reads nothing of it now
    expect(await reads('ana', w)).toEqual(allStatus(404));
    const anaPage = await clients.ana.get(`/projects/${projectId}/tasks/${w}`);
    expect(anaPage.text).not.toContain('ben draft secret');
    // ben (the holder) and the admin read the draft
    expect(await reads('ben', w)).toEqual(allStatus(200));
    expect(JSON.stringify((await api('get', `/tasks/${w}/answers`, 'ben')).body)).toContain('ben draft secret');
    expect((await clients.admin.get(`/projects/${projectId}/tasks/${w}`)).text).toContain('ben draft secret');
  });

  it('a labeler whose task moved to review loses it; the reviewer reads the submitted labels but no one else\'s draft', async () => {
    const task = await add('task-68');
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [task], email: 'ana@example.org' })).status).toBe(200);
    const work = await api('get', `/work/${task}`, 'ana');
    const finalized = await api('post', `/tasks/${task}/finalization`, 'ana').send({ answers: { note: 'ana label' }, version: work.body.version });
    expect(finalized.status).toBe(200);
    expect((await t.sql<{ stage_id: string }>('select stage_id from tasks where id = $1', [task]))[0].stage_id).toBe(String(stages.Review_1));
    expect(await reads('ana', task)).toEqual(allStatus(404));

    // ben once held a review draft on it (admin assigned, he saved, then it went to rev)
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [task], email: 'ben@example.org' })).status).toBe(200);
    const benWork = await api('get', `/work/${task}`, 'ben');
    expect((await api('put', `/tasks/${task}/answers`, 'ben').send({ answers: { note: 'ben review draft' }, version: benWork.body.version })).status).toBe(200);
    // saved work is never taken over silently: unassign ben (his draft stays in the history), then assign rev
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [task] })).body).toMatchObject({ changed: 1 });
    expect((await api('post', '/tasks/assign', 'admin').send({ taskIds: [task], email: 'rev@example.org' })).body).toMatchObject({ changed: 1 });

    const all = (await api('get', `/tasks/${task}/answers`, 'admin')).body.items as { id: number; answers: Record<string, unknown> }[];
    const label = all.find((s) => s.answers.note === 'ana label')!;
    const benDraft = all.find((s) => s.answers.note === 'ben review draft')!;
    expect(label && benDraft).toBeTruthy();
    const seen = (await api('get', `/tasks/${task}/answers`, 'rev')).body.items as { id: number }[];
    expect(seen.map((s) => s.id)).toContain(label.id);
    expect(seen.map((s) => s.id)).not.toContain(benDraft.id);
    // the draft is not an answer set the reviewer can compare; the admin can
    expect((await api('get', `/tasks/${task}/answers/compare?sets=${[label.id, benDraft.id].sort((a, b) => a - b).join(',')}`, 'rev')).status).toBe(404);
    expect((await api('get', `/tasks/${task}/answers/compare?sets=${[label.id, benDraft.id].sort((a, b) => a - b).join(',')}`, 'admin')).status).toBe(200);
    expect(await reads('ana', task)).toEqual(allStatus(404));
    expect(await reads('ben', task)).toEqual(allStatus(404));
    expect((await clients.rev.get(`/projects/${projectId}/tasks/${task}`)).text).not.toContain('ben review draft');
  });
});
