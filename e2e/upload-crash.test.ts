import { afterAll, expect, it } from 'vitest';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { PROCESS_UPLOAD_JOB } from '../src/modules/uploads/uploads.service.ts';
import { lastStartedAt } from './crash-helpers.ts';
import { startServer, type RunningServer } from './helpers.ts';

const ROWS = 150_000;
const servers: RunningServer[] = [];
let db: pg.Client | undefined;

afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.end();
});

/** Arranges an admin, a project and an API token directly in the database the server uses. */
async function arrange(databaseUrl: string) {
  const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
  try {
    const services = createServices(orm.em.fork());
    const admin = await services.users.createFirstAdmin({ email: 'crash@example.org', name: 'Crash Admin', password: 'correct horse battery' });
    const project = await services.projects.create(admin, { name: 'Crash test', reviewStages: 1 });
    const access = await services.projects.access(admin, project.id, 'admin');
    await services.projects.updateSchemas(access, [{ name: 'image', type: 'image_url', required: true }], []);
    const { token } = await createServices(orm.em.fork()).apiTokens.create(admin, 'crash');
    return { projectId: project.id, token };
  } finally {
    await orm.close();
  }
}

it('a server killed with SIGKILL during a large upload resumes it after restart: every task exactly once, counters true', async () => {
  const first = await startServer();
  servers.push(first);
  const { projectId, token } = await arrange(first.databaseUrl);
  db = new pg.Client({ connectionString: first.databaseUrl });
  await db.connect();

  // every 1,000th row has a bad priority: the failed counter must come out exact too
  const lines = ['name,image,priority,client_batch_id'];
  for (let i = 1; i <= ROWS; i++) lines.push(`crash-${i},https://img.example.org/${i}.png,${i % 1000 === 0 ? 'abc' : i % 7},batch-${i % 13}`);
  const form = new FormData();
  form.append('file', new Blob([lines.join('\n')], { type: 'text/csv' }), 'crash.csv');
  const t0 = Date.now();
  const log = (what: string) => console.log(`[crash-test +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  log('uploading');
  const res = await fetch(`${first.url}/api/v1/projects/${projectId}/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  expect(res.status).toBe(202);
  const { id: uploadId } = (await res.json()) as { id: number };
  log(`upload ${uploadId} received`);

  const upload = async () => (await db!.query('select status, rows_processed, rows_succeeded, rows_failed, attempts from uploads where id = $1', [uploadId])).rows[0];
  // kill it mid-job: after some batches have committed, well before the end
  await expect.poll(async () => (await upload()).rows_processed, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(10_000);
  log(`killing at ${JSON.stringify(await upload())}`);
  const startedBefore = await lastStartedAt(db, PROCESS_UPLOAD_JOB);
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  const atKill = await upload();
  expect(atKill.status).toBe('processing');
  expect(atKill.rows_processed).toBeLessThan(ROWS);
  const [{ n: tasksAtKill }] = (await db.query('select count(*)::int as n from tasks where upload_id = $1', [uploadId])).rows;
  expect(tasksAtKill).toBe(atKill.rows_succeeded); // batches commit with their counters

  log('restarting');
  const second = await startServer({}, first.databaseUrl);
  log('restarted');
  servers.push(second);
  await expect.poll(() => lastStartedAt(db!, PROCESS_UPLOAD_JOB), { timeout: 90_000, interval: 250 }).toBeGreaterThan(startedBefore);
  const resumeSeconds = (Date.now() - killedAt) / 1000;
  log(`resumed ${resumeSeconds.toFixed(1)} s after the kill`);
  expect(resumeSeconds).toBeLessThan(60);
  await expect.poll(async () => (await upload()).status, { timeout: 150_000, interval: 250 }).toBe('completed_with_errors');

  const done = await upload();
  log(`done ${JSON.stringify(done)}`);
  const bad = Math.floor(ROWS / 1000);
  expect(done).toMatchObject({ rows_processed: ROWS, rows_succeeded: ROWS - bad, rows_failed: bad });
  expect(done.attempts).toBeGreaterThanOrEqual(2);
  const [counts] = (await db.query(
    `select count(*)::int as tasks, count(distinct name)::int as names,
            -- no event row per created task: creator and upload on the task row make its history's first entry
            (select count(*)::int from task_events e join tasks t on t.id = e.task_id where t.upload_id = $1 and e.kind = 'created') as events,
            count(*) filter (where created_by_id is not null)::int as with_creator,
            (select count(*)::int from upload_errors where upload_id = $1) as errors
       from tasks where upload_id = $1`,
    [uploadId],
  )).rows;
  expect(counts).toEqual({ tasks: ROWS - bad, names: ROWS - bad, events: 0, with_creator: ROWS - bad, errors: bad });
  const missing = (await db.query(
    `select i from generate_series(1, $2::int) i where i % 1000 <> 0 and not exists (select 1 from tasks where project_id = $1 and archive_id is null and name = 'crash-' || i) limit 5`,
    [projectId, ROWS],
  )).rows;
  expect(missing).toEqual([]);
}, 300_000);
