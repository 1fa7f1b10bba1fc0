import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { RUN_BULK_OPERATION } from '../src/modules/bulk/bulk.service.ts';
import { CHUNK_SIZE } from '../src/modules/workflow/selection-writer.ts';
import { lastStartedAt, startBulkPriority } from './crash-helpers.ts';
import { startServer, type RunningServer } from './helpers.ts';

const TASKS = 4 * CHUNK_SIZE;
const servers: RunningServer[] = [];
const clients: pg.Client[] = [];

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const c of clients) await c.end();
});

type Operation = Record<string, any>;

/**
 * A bulk "set priority" over 4 chunks of tasks (CHUNK_SIZE), interrupted by `signal` after its first chunk
 * committed; a new server is started at once. Asserts what holds after either signal and returns
 * how long the job took to resume; `atStop` checks what the signal itself must leave behind.
 */
async function interruptBulk(signal: 'SIGKILL' | 'SIGTERM', atStop: (operation: Operation, db: pg.Client) => Promise<void>): Promise<number> {
  const first = await startServer();
  servers.push(first);
  const db = new pg.Client({ connectionString: first.databaseUrl });
  clients.push(db);
  await db.connect();
  const t0 = Date.now();
  const log = (what: string) => console.log(`[bulk ${signal} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  const { projectId, operation } = await startBulkPriority(first.databaseUrl, db, TASKS, CHUNK_SIZE, RUN_BULK_OPERATION);
  const startedBefore = await lastStartedAt(db, RUN_BULK_OPERATION);
  await first.kill(signal);
  const killedAt = Date.now();
  const atKill = await operation();
  log(`stopped at ${JSON.stringify(atKill)}`);
  expect(atKill.status).toBe('running');
  expect(atKill.processed).toBeLessThan(TASKS);
  const [{ n: changedAtKill }] = (await db.query('select count(*)::int as n from tasks where project_id = $1 and priority = 7', [projectId])).rows;
  expect(changedAtKill).toBe(atKill.changed); // chunks commit with their counters
  await atStop(atKill, db);

  const second = await startServer({}, first.databaseUrl);
  servers.push(second);
  await expect.poll(() => lastStartedAt(db, RUN_BULK_OPERATION), { timeout: 90_000, interval: 250 }).toBeGreaterThan(startedBefore);
  const resumeSeconds = (Date.now() - killedAt) / 1000;
  log(`resumed ${resumeSeconds.toFixed(1)} s after the signal`);

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
  return resumeSeconds;
}

it('a server killed with SIGKILL during a large bulk action resumes it within a minute: each task changed once, one event each, counters true', async () => {
  expect(await interruptBulk('SIGKILL', async () => {})).toBeLessThan(60);
}, 400_000);

it('a server stopped with SIGTERM during a large bulk action stops at a chunk boundary and the next process resumes it at once, without waiting for an expiry', async () => {
  const resumeSeconds = await interruptBulk('SIGTERM', async (atStop, db) => {
    expect(atStop.processed % CHUNK_SIZE).toBe(0); // stopped at a chunk boundary
    // the stopping server handed the job back itself (no heartbeat has to expire): it waits for its retry
    const [job] = (await db.query(`select state, output->>'message' as message from pgboss.job where name = $1 order by created_on desc limit 1`, [RUN_BULK_OPERATION])).rows;
    expect(job).toEqual({ state: 'retry', message: 'the server is shutting down' });
  });
  expect(resumeSeconds).toBeLessThan(15); // the retry delay, a poll and the new server's start
}, 400_000);
