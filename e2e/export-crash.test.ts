import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { RUN_EXPORT } from '../src/modules/exports/exports.service.ts';
import { arrangeProject, lastStartedAt, sendJob } from './crash-helpers.ts';
import { startServer, type RunningServer } from './helpers.ts';

const TASKS = 600_000;
const servers: RunningServer[] = [];
let db: pg.Client | undefined;

afterAll(async () => {
  for (const s of servers) await s.stop();
  await db?.end();
});

it('a server killed with SIGKILL while writing a large export resumes it within a minute: the file has every row once', async () => {
  const first = await startServer();
  servers.push(first);
  db = new pg.Client({ connectionString: first.databaseUrl });
  await db.connect();
  const { projectId, adminId } = await arrangeProject(first.databaseUrl, db, TASKS);
  const [{ id: exportId }] = (await db.query(
    `insert into exports (project_id, format, selection, created_by_id) values ($1, 'jsonl', '{"filter": ""}', $2) returning id::int as id`,
    [projectId, adminId],
  )).rows;
  const t0 = Date.now();
  const log = (what: string) => console.log(`[export-crash +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
  await sendJob(first.databaseUrl, RUN_EXPORT, { exportId });

  const exported = async () => (await db!.query('select status, rows_total as "rowsTotal", rows_written as "rowsWritten" from exports where id = $1', [exportId])).rows[0];
  // kill it mid-way: some pieces of the file are stored, not all
  await expect.poll(async () => (await exported()).rowsWritten, { timeout: 120_000, interval: 20 }).toBeGreaterThan(0);
  const startedBefore = await lastStartedAt(db, RUN_EXPORT);
  await first.kill('SIGKILL');
  const killedAt = Date.now();
  const atKill = await exported();
  log(`killed at ${JSON.stringify(atKill)}`);
  expect(atKill.status).toBe('running');
  expect(atKill.rowsWritten).toBeLessThan(TASKS);

  const second = await startServer({}, first.databaseUrl);
  servers.push(second);
  await expect.poll(() => lastStartedAt(db!, RUN_EXPORT), { timeout: 90_000, interval: 250 }).toBeGreaterThan(startedBefore);
  const resumeSeconds = (Date.now() - killedAt) / 1000;
  log(`resumed ${resumeSeconds.toFixed(1)} s after the kill`);
  expect(resumeSeconds).toBeLessThan(60);

  await expect.poll(async () => (await exported()).status, { timeout: 120_000, interval: 250 }).toBe('completed');
  log(`done ${JSON.stringify(await exported())}`);
  // the stored file, piece by piece in order: every task exactly once
  const [file] = (await db.query(
    `with lines as (select regexp_split_to_table(convert_from(string_agg(data, ''::bytea order by seq), 'UTF8'), E'\\n') as line from export_chunks where export_id = $1)
     select count(*)::int as lines, count(distinct line)::int as distinct from lines where line <> ''`,
    [exportId],
  )).rows;
  expect(file).toEqual({ lines: TASKS, distinct: TASKS });
}, 400_000);
