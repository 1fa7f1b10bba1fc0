import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';

/**
 * tasks.stage_id has no foreign key: a transition into a review stage and an admin's removal of
 * that (never used) stage must not both succeed, whichever starts first (workflow/stage-lock.ts).
 */
describe('Removing a review stage while tasks move into it', () => {
  let t: TestApp;
  let admin: IUser;
  let token: string;
  let projectId: number;
  let label: number;
  let review: number;
  let other: pg.Client;

  beforeAll(async () => {
    t = await createTestApp({ RUN_WORKERS: 'false' });
    admin = await createAdmin(t);
    token = (await t.services().apiTokens.create(admin, 'race')).token;
    other = new pg.Client({ connectionString: t.databaseUrl });
    await other.connect();
  });
  afterAll(async () => {
    await other.end();
    await t.close();
  });

  beforeEach(async () => {
    const project = await t.services().projects.create(admin, { name: `Race ${Date.now()}`, reviewStages: 1 });
    projectId = project.id;
    const stages = await t.sql<{ id: string; kind: string }>(`select id, kind from stages where project_id = $1 order by position`, [projectId]);
    label = Number(stages.find((s) => s.kind === 'label')!.id);
    review = Number(stages.find((s) => s.kind === 'review')!.id);
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, 'race-' || n, $2 from generate_series(1, 3) n`, [projectId, label]);
  });

  const api = (method: 'post', path: string) => request(t.app.server)[method](`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${token}`);
  const pendingFor = async (promise: Promise<unknown>, ms: number) => Promise.race([promise.then(() => false), new Promise((r) => setTimeout(() => r(true), ms))]);
  /** an admin's removal in progress: the stage locked and deleted, not yet committed */
  const removalInProgress = async () => {
    await other.query('begin');
    await other.query('select id from stages where id = $1 for update', [review]);
    await other.query('delete from stages where id = $1', [review]);
  };

  it('a finalize into the stage waits for the removal, then answers 409 and changes nothing', async () => {
    const [item] = (await api('post', '/stages/Label/next')).body.items;
    await removalInProgress();
    const finalize = api('post', `/tasks/${item.id}/finalization`).send({}).then((r) => r);
    expect(await pendingFor(finalize, 400)).toBe(true);
    await other.query('commit');
    const res = await finalize;
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/Review_1 was removed/);
    const [task] = await t.sql<{ stage_id: string; assignment_status: string }>('select stage_id, assignment_status from tasks where id = $1', [item.id]);
    expect(Number(task.stage_id)).toBe(label);
    expect(task.assignment_status).toBe('assigned');
    expect(await t.sql(`select kind from task_events where task_id = $1 and kind = 'finalized'`, [item.id])).toEqual([]);
  });

  it('a bulk send to the stage waits for the removal, then answers 409 and changes nothing', async () => {
    const ids = (await t.sql<{ id: string }>('select id from tasks where project_id = $1', [projectId])).map((r) => Number(r.id));
    await removalInProgress();
    const send = api('post', '/tasks/stage').send({ taskIds: ids, stage: review }).then((r) => r);
    expect(await pendingFor(send, 400)).toBe(true);
    await other.query('commit');
    const res = await send;
    expect(res.status).toBe(409);
    expect(await t.sql('select id from tasks where project_id = $1 and stage_id <> $2', [projectId, label])).toEqual([]);
  });

  it('a removal waits for a transition into the stage, then sees its task and refuses', async () => {
    const [{ id }] = await t.sql<{ id: string }>('select id from tasks where project_id = $1 limit 1', [projectId]);
    // a transition in flight: it holds the stage as the workflow does and moves a task into it
    await other.query('begin');
    await other.query('select id from stages where id = $1 for key share', [review]);
    await other.query('update tasks set stage_id = $1 where id = $2', [review, id]);
    const access = await t.services().projects.access(admin, projectId, 'admin');
    const removal = t.services().projects.removeReviewStage(access, review).then(() => 'removed', (err: Error) => err.message);
    expect(await pendingFor(removal, 400)).toBe(true);
    await other.query('commit');
    expect(await removal).toMatch(/cannot be removed because tasks have been in it/);
    expect(await t.sql('select id from stages where id = $1', [review])).toHaveLength(1);
  });
});
