import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgBoss } from 'pg-boss';
import { deadLetterQueue } from '../src/jobs/failure-policy.ts';
import { jobs } from '../src/jobs/index.ts';
import { RUN_BULK_OPERATION } from '../src/modules/bulk/bulk.service.ts';
import { PROCESS_UPLOAD_JOB } from '../src/modules/uploads/uploads.service.ts';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** Polls `read` until it returns `expected` (jobs run in the app's own workers). */
async function until<T>(read: () => Promise<T>, expected: T, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (JSON.stringify(value) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)}, expected ${JSON.stringify(expected)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Failed jobs (one failure policy, dead letters for admins)', () => {
  let t: TestApp;
  let admin: Agent;
  let projectId: number;
  let labelId: number;
  let adminId: number;

  beforeAll(async () => {
    t = await createTestApp();
    const user = await createAdmin(t);
    adminId = user.id;
    projectId = (await t.services().projects.create(user, { name: 'Jobs', reviewStages: 1 })).id;
    labelId = Number((await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]))[0].id);
    admin = await loggedIn(t, 'admin@example.org');
  });
  afterAll(() => t.close());

  const operation = async (id: number) => (await t.sql<Record<string, any>>('select status, error_message, processed, changed from bulk_operations where id = $1', [id]))[0];
  const newOperation = async (priority: number) => {
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, format('op%s-%s', $2::int, n), $3 from generate_series(1, 20) n`, [projectId, priority, labelId]);
    const [{ id }] = await t.sql<{ id: string }>(
      `insert into bulk_operations (project_id, action, params, selection, created_by_id, status)
       values ($1, 'priority', jsonb_build_object('priority', $2::int), jsonb_build_object('filter', 'q=op' || $2::int || '-'), $3, 'queued') returning id`,
      [projectId, priority, adminId]);
    return Number(id);
  };
  /** a job that used up its attempts, as pg-boss moves it: the same payload in `<name>.dead` */
  const deadLetter = (name: string, data: object) => t.app.boss.send(deadLetterQueue(name), data);

  it('every job kind has retries with backoff and a dead-letter queue', async () => {
    const queues = await t.sql<Record<string, any>>(`select name, retry_limit, retry_backoff, dead_letter, heartbeat_seconds from pgboss.queue`);
    for (const job of jobs) {
      const queue = queues.find((q) => q.name === job.name);
      expect(queue, job.name).toMatchObject({ dead_letter: deadLetterQueue(job.name), retry_backoff: true });
      if (job.kind === 'long') expect(queue!.heartbeat_seconds, job.name).toBeGreaterThan(0);
      expect(queues.some((q) => q.name === deadLetterQueue(job.name)), job.name).toBe(true);
    }
  });

  it('a bulk action that used up its attempts shows as failed, is listed for admins, and a retry finishes it', async () => {
    const id = await newOperation(41);
    await deadLetter(RUN_BULK_OPERATION, { operationId: id });
    await until(async () => (await operation(id)).status, 'failed');
    expect((await operation(id)).error_message).toMatch(/Stopped after 11 attempts.*the Failed jobs page/);
    const page = await admin.get(`/projects/${projectId}/bulk/${id}`);
    expect(page.text).toContain('Stopped after 11 attempts');

    const list = await admin.get('/admin/failed-jobs');
    expect(list.status).toBe(200);
    expect(list.text).toContain('Bulk action');
    expect(list.text).toContain(`bulk operation ${id}`);
    const action = new RegExp(`/admin/failed-jobs/run-bulk-operation/([0-9a-f-]{36})/retrial`).exec(list.text)!;
    const retried = await admin.post(action[0]).type('form').send({ _csrf: csrfFrom(list.text) });
    expect(retried.status).toBe(303);
    expect((await admin.get('/admin/failed-jobs')).text).toContain('The job is back in its queue.');
    await until(async () => (await operation(id)).status, 'completed');
    expect(await operation(id)).toMatchObject({ error_message: null, processed: 20, changed: 20 });
    expect((await t.sql<{ n: number }>(`select count(*)::int as n from tasks where project_id = $1 and priority = 41`, [projectId]))[0].n).toBe(20);
    // the dead letter is gone once retried
    expect((await admin.get('/admin/failed-jobs')).text).not.toContain(`bulk operation ${id}<`);
  });

  it('a failed upload keeps its file for a retry, which resumes it; dropping forgets it', async () => {
    const upload = async (fileName: string) => {
      const [{ id }] = await t.sql<{ id: string }>(
        `insert into uploads (project_id, file_name, status, created_by_id, size_bytes) values ($1, $2, 'processing', $3, 24) returning id`, [projectId, fileName, adminId]);
      await t.sql(`insert into upload_chunks (upload_id, seq, data) values ($1, 0, convert_to(E'name\\nretried-1\\nretried-2\\n', 'UTF8'))`, [id]);
      return Number(id);
    };
    const state = async (id: number) => (await t.sql<Record<string, any>>(
      `select status, rows_succeeded, (select count(*)::int from upload_chunks where upload_id = $1) as chunks from uploads where id = $1`, [id]))[0];

    const kept = await upload('kept.csv');
    await deadLetter(PROCESS_UPLOAD_JOB, { uploadId: kept });
    await until(async () => (await state(kept)).status, 'failed');
    expect(await state(kept)).toMatchObject({ chunks: 1 });
    let list = await admin.get('/admin/failed-jobs');
    const retry = new RegExp(`/admin/failed-jobs/process-upload/([0-9a-f-]{36})/retrial`).exec(list.text)!;
    await admin.post(retry[0]).type('form').send({ _csrf: csrfFrom(list.text) });
    await until(async () => (await state(kept)).status, 'completed');
    expect(await state(kept)).toMatchObject({ rows_succeeded: 2, chunks: 0 });

    const dropped = await upload('dropped.csv');
    await deadLetter(PROCESS_UPLOAD_JOB, { uploadId: dropped });
    await until(async () => (await state(dropped)).status, 'failed');
    list = await admin.get('/admin/failed-jobs');
    expect(list.text).toContain(`upload ${dropped}`);
    const drop = new RegExp(`/admin/failed-jobs/process-upload/([0-9a-f-]{36})/removal`).exec(list.text)!;
    expect((await admin.post(drop[0]).type('form').send({ _csrf: csrfFrom(list.text) })).status).toBe(303);
    expect(await state(dropped)).toMatchObject({ status: 'failed', chunks: 0 });
    list = await admin.get('/admin/failed-jobs');
    expect(list.text).not.toContain(`upload ${dropped}<`);
    // an unknown or already handled dead letter is a clear message, not an error page
    const again = await admin.post(drop[0]).type('form').send({ _csrf: csrfFrom(list.text) });
    expect(again.status).toBe(303);
    expect((await admin.get('/admin/failed-jobs')).text).toContain('No such failed job');
  });

  it('a running operation whose job waits for its retry says "Interrupted, resuming"', async () => {
    const id = await newOperation(42);
    await t.sql(`update bulk_operations set status = 'running' where id = $1`, [id]);
    const jobId = await t.app.boss.send(RUN_BULK_OPERATION, { operationId: id }, { startAfter: 3600 });
    await t.sql(`update pgboss.job set state = 'retry' where id = $1`, [jobId]);
    const page = await admin.get(`/projects/${projectId}/bulk/${id}`);
    expect(page.text).toContain('Interrupted, resuming');
    await t.app.boss.deleteJob(RUN_BULK_OPERATION, jobId!);
    expect((await admin.get(`/projects/${projectId}/bulk/${id}`)).text).not.toContain('Interrupted, resuming');
  });

  it('only instance admins see failed jobs', async () => {
    await createUser(t, 'mia@example.org');
    const mia = await loggedIn(t, 'mia@example.org');
    // like every admin page, it does not exist for them
    expect((await mia.get('/admin/failed-jobs')).status).toBe(404);
  });
});
