import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { RUN_BULK_OPERATION } from '../src/modules/bulk/bulk.service.ts';
import { CHUNK_SIZE } from '../src/modules/workflow/selection-writer.ts';
import { lastStartedAt, startBulkPriority } from './crash-helpers.ts';
import { startServer, type RunningServer } from './helpers.ts';

const TASKS = 4 * CHUNK_SIZE;
const servers: RunningServer[] = [];
let db: pg.Client | undefined;

afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.end();
});

it('a server stopped with SIGTERM during a large bulk action stops at a chunk boundary and the next process resumes it at once, without waiting for an expiry', async () => {
  const first = await startServer();
  servers.push(first);
  db = new pg.Client({ connectionString: first.databaseUrl });
  await db.connect();
  const t0 = Date.now();
  const log = (what: string) => console.log(`[bulk-sigterm +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  // kill it mid-way: after the first chunk committed, before the last
  const { projectId, operation } = await startBulkPriority(first.databaseUrl, db, TASKS, CHUNK_SIZE, RUN_BULK_OPERATION);
  const startedBefore = await lastStartedAt(db, RUN_BULK_OPERATION);
  await first.kill('SIGTERM');
  const killedAt = Date.now();
  const atKill = await operation();
  expect(atKill.processed % CHUNK_SIZE).toBe(0); // stopped at a chunk boundary
  log(`killed at ${JSON.stringify(atKill)}`);
  expect(atKill.status).toBe('running');
  expect(atKill.processed).toBeLessThan(TASKS);
  const [{ n: changedAtKill }] = (await db.query('select count(*)::int as n from tasks where project_id = $1 and priority = 7', [projectId])).rows;
  expect(changedAtKill).toBe(atKill.changed); // chunks commit with their counters
  // the stopping server handed the job back itself (no heartbeat has to expire): it waits for its retry
  const [job] = (await db.query(`select state, output->>'message' as message from pgboss.job where name = $1 order by created_on desc limit 1`, [RUN_BULK_OPERATION])).rows;
  expect(job).toEqual({ state: 'retry', message: 'the server is shutting down' });

  const second = await startServer({}, first.databaseUrl);
  servers.push(second);
  await expect.poll(() => lastStartedAt(db!, RUN_BULK_OPERATION), { timeout: 90_000, interval: 250 }).toBeGreaterThan(startedBefore);
  const resumeSeconds = (Date.now() - killedAt) / 1000;
  log(`resumed ${resumeSeconds.toFixed(1)} s after the kill`);
  expect(resumeSeconds).toBeLessThan(15); // the retry delay, a poll and the new server's start

  await expect.poll(async () => (await operation()).status, { timeout: 120_000, interval: 250 }).toBe('completed');
  const done = await operation();
  log(`done ${JSON.stringify(done)}`);
  expect(done).toMatchObject({ total: TASKS, processed: TASKS, changed: TASKS, skipped: {} });
  const [counts] = (await db.query(
    `select (select count(*)::int from tasks where project_id = $1 and priority = 7) as changed,
            (select count(*)::int from task_events where project_id = $1 and kind = 'priority_changed') as events,
            (select count(distinct task_id)::int from task_events where project_id = $1 and kind = 'priority_changed') as "eventTasks"`,
    [projectId],
  )).rows;
  expect(counts).toEqual({ changed: TASKS, events: TASKS, eventTasks: TASKS });
}, 400_000);
