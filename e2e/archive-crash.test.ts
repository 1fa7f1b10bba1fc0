import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { CHUNK_SIZE } from '../src/modules/workflow/selection-writer.ts';
import { arrangeProject, lastStartedAt, sendJob } from './crash-helpers.ts';
import { startServer, type RunningServer } from './helpers.ts';

const TASKS = 4 * CHUNK_SIZE;
const JOB = 'archive-inactive-tasks';
const servers: RunningServer[] = [];
let db: pg.Client | undefined;

afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.end();
});

it('a server killed with SIGKILL during auto-archiving resumes it within a minute: one archive record, each task archived once', async () => {
  const first = await startServer();
  servers.push(first);
  db = new pg.Client({ connectionString: first.databaseUrl });
  await db.connect();
  const { projectId } = await arrangeProject(first.databaseUrl, db, TASKS);
  await db.query(`update projects set auto_archive_after_days = 30 where id = $1`, [projectId]);
  await db.query(`update tasks set last_activity_at = now() - interval '60 days' where project_id = $1`, [projectId]);
  const t0 = Date.now();
  const log = (what: string) => console.log(`[archive-crash +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  // the nightly run, sent now
  await sendJob(first.databaseUrl, JOB, {});

  const archived = async () => Number((await db!.query('select count(*) as n from tasks where project_id = $1 and archive_id is not null', [projectId])).rows[0].n);
  const records = async () => (await db!.query('select id::int, task_count, automatic from archives where project_id = $1 order by id', [projectId])).rows;
  // kill it mid-way: after the first chunk committed, before the last
  await expect.poll(archived, { timeout: 120_000, interval: 50 }).toBeGreaterThanOrEqual(CHUNK_SIZE);
  const startedBefore = await lastStartedAt(db, JOB);
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  const atKill = { archived: await archived(), records: await records() };
  log(`killed at ${JSON.stringify(atKill)}`);
  expect(atKill.archived).toBeLessThan(TASKS);
  expect(atKill.records).toHaveLength(1);
  expect(atKill.records[0].task_count).toBe(atKill.archived); // chunks commit with the record's count

  const second = await startServer({}, first.databaseUrl);
  servers.push(second);
  await expect.poll(() => lastStartedAt(db!, JOB), { timeout: 90_000, interval: 250 }).toBeGreaterThan(startedBefore);
  const resumeSeconds = (Date.now() - killedAt) / 1000;
  log(`resumed ${resumeSeconds.toFixed(1)} s after the kill`);
  expect(resumeSeconds).toBeLessThan(60);

  await expect.poll(archived, { timeout: 120_000, interval: 250 }).toBe(TASKS);
  await expect.poll(async () => (await db!.query(`select state from pgboss.job where name = $1 order by created_on desc limit 1`, [JOB])).rows[0].state,
    { timeout: 30_000, interval: 250 }).toBe('completed');
  const done = await records();
  log(`done ${JSON.stringify(done)}`);
  expect(done).toEqual([{ id: atKill.records[0].id, task_count: TASKS, automatic: true }]);
  const [counts] = (await db.query(
    `select count(*)::int as events, count(distinct task_id)::int as "eventTasks" from task_events where project_id = $1 and kind = 'archived'`, [projectId])).rows;
  expect(counts).toEqual({ events: TASKS, eventTasks: TASKS });
}, 400_000);
