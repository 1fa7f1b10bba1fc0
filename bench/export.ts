/**
 * `npm run bench:export`: exports a whole project of BENCH_TASKS tasks (default 1,000,000) as CSV
 * and as JSON Lines through the running server (request → job completed → full download),
 * compares with the export's own `COPY (…) TO STDOUT` run directly through `pg`, watches the server's peak RSS,
 * and times archiving 100,000 tasks selected by a filter (then restores them, so the seeded
 * database can be reused). The last line is one JSON object.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { benchDatabase, csrfFrom, HttpClient, round1, sleep, startServer, table } from './harness.ts';
import { BULK_BATCH } from './seed-tasks.ts';
import { exportCopySql } from '../src/modules/exports/exports.repository.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 1_000_000);
const log = (msg: string) => process.stderr.write(`[bench:export] ${msg}\n`);

/** Resident set size of a process now (Linux VmRSS), in MB. */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Samples a process's RSS every 20 ms while `work` runs; the highest sample is its peak. */
async function withPeakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peakMb = rssMb(pid);
  const timer = setInterval(() => { peakMb = Math.max(peakMb, rssMb(pid)); }, 20);
  try {
    const result = await work();
    return { result, peakMb: Math.max(peakMb, rssMb(pid)) };
  } finally {
    clearInterval(timer);
  }
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30 * 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function main() {
  const db = await benchDatabase({ tasks: TASKS, reseed: process.env.BENCH_RESEED === '1' }, log);
  const sqlClient = new pg.Client({ connectionString: db.url });
  await sqlClient.connect();
  const server = await startServer(db.url);
  try {
    const { projectId } = db.seed;
    const client = new HttpClient(server.url);
    await client.signIn(db.seed.adminEmail, db.seed.password);
    const restore = async (archiveId: number) => {
      const archives = await client.get(`/projects/${projectId}/archives`);
      const res = await client.request('POST', `/projects/${projectId}/archives/${archiveId}/restoration`, { form: { _csrf: csrfFrom(archives.text) } });
      if (res.status !== 303) throw new Error(`restore answered ${res.status}`);
    };
    // an interrupted earlier run may have left its archive behind
    const leftovers = await sqlClient.query<{ id: string }>(
      `select distinct archive_id as id from tasks where project_id = $1 and archive_id is not null`, [projectId]);
    for (const row of leftovers.rows) await restore(Number(row.id));
    const live = Number((await sqlClient.query('select count(*) as n from tasks where project_id = $1 and archive_id is null', [projectId])).rows[0].n);

    /** One export through the product: POST the form, wait for the job, download the file. */
    async function exportThroughServer(format: 'csv' | 'jsonl') {
      const started = performance.now();
      const res = await client.submit(`/projects/${projectId}/tasks`, `/projects/${projectId}/exports`, { scope: 'all', filter: '', format });
      if (res.status !== 303) throw new Error(`export request answered ${res.status}`);
      const { rows } = await sqlClient.query<{ id: string }>('select max(id) as id from exports where project_id = $1', [projectId]);
      const exportId = Number(rows[0].id);
      const jobPeak = rssMb(server.pid);
      const row = await waitFor(`export ${exportId}`, async () => {
        const r = (await sqlClient.query('select status, rows_written, error_message from exports where id = $1', [exportId])).rows[0];
        if (r.status === 'failed') throw new Error(`export failed: ${r.error_message}`);
        return r.status === 'completed' ? r : undefined;
      });
      const download = await fetch(`${server.url}/projects/${projectId}/exports/${exportId}/download`, {
        headers: { cookie: client.cookieHeader() },
      });
      if (download.status !== 200 || !download.body) throw new Error(`download answered ${download.status}`);
      log(`${format}: RSS ${round1(rssMb(server.pid))} MB when the job finished (${round1(jobPeak)} MB when it started)`);
      let bytes = 0;
      let newlines = 0;
      for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        for (const b of chunk) if (b === 10) newlines += 1;
      }
      const seconds = (performance.now() - started) / 1000;
      const exported = Number(row.rows_written);
      if (exported !== live) throw new Error(`exported ${exported} rows, expected ${live}`);
      if (format === 'jsonl' && newlines !== live) throw new Error(`JSONL has ${newlines} lines, expected ${live}`);
      return { seconds, rows: exported, bytes };
    }

    /** The export's own COPY statement over the same rows, straight to this process: no job, no storage, no HTTP. */
    async function rawCopy() {
      const started = performance.now();
      await sqlClient.query('begin');
      await sqlClient.query('create temp table export_ids on commit drop as select id from tasks where project_id = $1 and archive_id is null', [projectId]);
      const stream = sqlClient.query(copyTo(exportCopySql('csv')));
      let bytes = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) bytes += chunk.length;
      await sqlClient.query('commit');
      return { seconds: (performance.now() - started) / 1000, bytes };
    }

    log(`exporting ${TASKS.toLocaleString('en-US')} tasks`);
    const copy = await rawCopy();
    const idleMb = rssMb(server.pid);
    const { result: csv, peakMb: csvPeak } = await withPeakRss(server.pid, () => exportThroughServer('csv'));
    const { result: jsonl, peakMb: jsonlPeak } = await withPeakRss(server.pid, () => exportThroughServer('jsonl'));
    const copyAgain = await rawCopy(); // the better of two, so a cold cache does not flatter the ratio
    const copySeconds = Math.min(copy.seconds, copyAgain.seconds);

    // every 10th task (100,000 at 1M) by filter; tasks with saved work are skipped by design
    log(`archiving the ${(TASKS / 10).toLocaleString('en-US')} tasks of client batch ${BULK_BATCH}`);
    const archiveStarted = performance.now();
    const page = await client.get(`/projects/${projectId}/tasks`);
    const bulk = await client.request('POST', `/projects/${projectId}/tasks/bulk`, {
      form: { _csrf: csrfFrom(page.text), action: 'archive', note: 'bench', scope: 'all', filter: `batch=${BULK_BATCH}&batch_match=exact` },
    });
    if (bulk.status !== 303) throw new Error(`archive answered ${bulk.status}`);
    const job = /bulk\/(\d+)$/.exec(bulk.headers.get('location') ?? '');
    if (job) {
      await waitFor('the archive job', async () => {
        const r = (await sqlClient.query('select status, error_message from bulk_operations where id = $1', [Number(job[1])])).rows[0];
        if (r.status === 'failed') throw new Error(`archive failed: ${r.error_message}`);
        return r.status === 'completed' ? r : undefined;
      });
    }
    const archiveMs = performance.now() - archiveStarted;
    const archive = (await sqlClient.query<{ id: string; task_count: number }>(
      `select id, task_count from archives where project_id = $1 and reason = 'bench' and restored_at is null order by id desc limit 1`, [projectId])).rows[0];
    const selected = Number((await sqlClient.query(`select count(*) as n from tasks where project_id = $1 and client_batch_id = $2`, [projectId, BULK_BATCH])).rows[0].n);
    const restoreStarted = performance.now();
    await restore(Number(archive.id));
    const restoreMs = performance.now() - restoreStarted;
    // leave the table settled (visibility map, statistics) for the next benchmark on this database
    await sqlClient.query('vacuum analyze tasks');
    await sqlClient.query('vacuum analyze task_events');

    const peak = Math.max(csvPeak, jsonlPeak);
    const rate = (rows: number, seconds: number) => Math.round(rows / seconds);
    const result = {
      bench: 'export',
      rows: live,
      csv_rows_per_s: rate(csv.rows, csv.seconds),
      jsonl_rows_per_s: rate(jsonl.rows, jsonl.seconds),
      raw_copy_rows_per_s: rate(live, copySeconds),
      ratio_vs_copy: Math.round((copySeconds / csv.seconds) * 100) / 100,
      peak_rss_mb: Math.round(peak),
      archive_100k_ms: Math.round(archiveMs),
    };
    console.log(table(['step', 'seconds', 'rows/s', 'MB'], [
      ['raw COPY (csv)', round1(copySeconds), result.raw_copy_rows_per_s, round1(copy.bytes / 1e6)],
      ['export CSV (request → download)', round1(csv.seconds), result.csv_rows_per_s, round1(csv.bytes / 1e6)],
      ['export JSONL (request → download)', round1(jsonl.seconds), result.jsonl_rows_per_s, round1(jsonl.bytes / 1e6)],
      [`archive ${selected.toLocaleString('en-US')} selected by filter (${archive.task_count.toLocaleString('en-US')} archived, the rest have saved work)`, round1(archiveMs / 1000), '', ''],
      [`restore them`, round1(restoreMs / 1000), '', ''],
    ]));
    console.log(`server RSS: ${round1(idleMb)} MB before the exports, peak ${round1(peak)} MB while they ran`);
    console.log(JSON.stringify(result));
  } finally {
    await server.stop();
    await sqlClient.end();
    await db.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
