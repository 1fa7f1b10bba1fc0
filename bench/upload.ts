/**
 * Upload benchmark (issue 4): a 1,000,000-row CSV (~150 MB) uploaded through the running server
 * (a child process, as in production) until `completed`, the server's peak RSS, and a raw `COPY` of
 * the same file into a scratch table for comparison. Right after the upload completes, the task
 * list over the new tasks (the default view and a batch filter, full pages over HTTP as a signed-in
 * admin) is timed: `list_p95_after_upload_ms`. The last line is one JSON object.
 *
 *   npm run bench:upload                 # 1,000,000 rows
 *   BENCH_ROWS=100000 npm run bench:upload
 *   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/upprof" npm run bench:upload   # flags for the server's node
 *   BENCH_PG_STATS=1 npm run bench:upload   # also print the upload's top statements (pg_stat_statements)
 */
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, openAsBlob, readFileSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { migrate } from '../src/db/migrate.ts';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { HttpClient, PG_STATS_SETTINGS, percentile, printTopStatements, round1, startServer } from './harness.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
/** Requests per list view right after the upload (the first ones count: that is the point). */
const LIST_ROUNDS = 30;
const ADMIN = { email: 'bench@example.org', password: 'correct horse battery' };
const say = (msg: string) => console.log(`[bench:upload] ${msg}`);

/** Deterministic pseudo-random numbers: the same file every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['street', 'car', 'pedestrian', 'crossing', 'traffic', 'light', 'bicycle', 'night', 'rain', 'truck', 'bus', 'sign', 'lane', 'parking', 'tree', 'shadow'];

async function writeCsv(path: string, rows: number) {
  const random = rng(42);
  const out = createWriteStream(path);
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write('name,image,caption,camera,priority,priority_score,client_batch_id,metadata.site\n');
  let buf = '';
  for (let i = 1; i <= rows; i++) {
    const words = Array.from({ length: 3 + Math.floor(random() * 5) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
    const priority = random() < 0.3 ? String(Math.floor(random() * 10) - 2) : '';
    const score = random() < 0.2 ? random().toFixed(6) : '';
    const batch = random() < 0.5 ? `batch-2026-${String(1 + Math.floor(i / 50_000)).padStart(2, '0')}` : '';
    buf += `scene-${String(i).padStart(8, '0')},https://images.example.org/drive/2026/11/${Math.floor(i / 1000)}/frame-${i}.jpg,"A ${words}",cam-${i % 24},${priority},${score},${batch},site-${i % 7}\n`;
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Peak resident set size of a process (Linux VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-upload-'));
  chmodSync(dir, 0o755);
  const csvPath = join(dir, 'tasks.csv');
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const pgStats = process.env.BENCH_PG_STATS === '1';
  const postgres = new EmbeddedPostgres({
    dir: join(dir, 'db'), database: 'bench',
    settings: pgStats ? PG_STATS_SETTINGS : {},
  });
  try {
    mkdirSync(join(dir, 'db'), { recursive: true, mode: 0o755 });
    say(`writing ${ROWS.toLocaleString('en-US')} rows`);
    await writeCsv(csvPath, ROWS);
    const bytes = statSync(csvPath).size;
    say(`file: ${(bytes / 1024 / 1024).toFixed(1)} MB`);

    const databaseUrl = await postgres.start();
    await migrate(databaseUrl);
    const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
    let token: string;
    let projectId: number;
    try {
      const services = createServices(orm.em.fork());
      const admin = await services.users.createFirstAdmin({ email: ADMIN.email, name: 'Bench', password: ADMIN.password });
      const project = await services.projects.create(admin, { name: 'Upload bench', reviewStages: 1 });
      projectId = project.id;
      const access = await services.projects.access(admin, project.id, 'admin');
      await services.projects.updateSchemas(access, [
        { name: 'image', type: 'image_url', required: true },
        { name: 'caption', type: 'text', required: false },
        { name: 'camera', type: 'text', required: false },
      ], []);
      token = (await createServices(orm.em.fork()).apiTokens.create(admin, 'bench')).token;
    } finally {
      await orm.close();
    }

    server = await startServer(databaseUrl, {}, (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean));
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();

    const http = new HttpClient(server.url);
    await http.signIn(ADMIN.email, ADMIN.password);
    // the list views once on the empty project, so that the server's first render of them
    // (template compilation, first plans) is not counted as "after the upload"
    const views = [
      { name: 'default view', path: `/projects/${projectId}/tasks` },
      { name: 'batch filter', path: `/projects/${projectId}/tasks?batch=batch-2026-10&batch_match=exact` },
    ];
    for (const view of views) await http.get(view.path);

    // 1. end to end through the running server
    say('uploading through the server');
    const started = performance.now();
    const form = new FormData();
    form.append('file', await openAsBlob(csvPath, { type: 'text/csv' }), 'tasks.csv');
    const res = await fetch(`${server.url}/api/v1/projects/${projectId}/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
    if (res.status !== 202) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
    const { id: uploadId } = (await res.json()) as { id: number };
    const received = performance.now();
    say(`file received and stored in ${((received - started) / 1000).toFixed(1)} s (server peak RSS so far ${peakRssMb(server.pid)} MB)`);
    let upload: { status: string; rows_processed: number; rows_succeeded: number; rows_failed: number };
    let lastReport = 0;
    for (;;) {
      upload = (await db.query('select status, rows_processed, rows_succeeded, rows_failed from uploads where id = $1', [uploadId])).rows[0];
      if (!['queued', 'processing', 'receiving'].includes(upload.status)) break;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        say(`  ${upload.status}: ${upload.rows_processed.toLocaleString('en-US')} rows`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const peak = peakRssMb(server.pid);
    say(`upload ${upload.status}: ${upload.rows_succeeded.toLocaleString('en-US')} tasks, ${upload.rows_failed} failed, ${seconds.toFixed(1)} s, server peak RSS ${peak} MB`);
    const [job] = (await db.query('select extract(epoch from finished_at - started_at)::float8 as s from uploads where id = $1', [uploadId])).rows;
    say(`  of which the job processing the stored file: ${job.s.toFixed(1)} s (${Math.round(ROWS / job.s).toLocaleString('en-US')} rows/s)`);
    if (upload.status !== 'completed' || upload.rows_succeeded !== ROWS) throw new Error(`unexpected result: ${JSON.stringify(upload)}`);

    if (pgStats) await printTopStatements(say, db);

    // 2. the list over the new tasks, at once: no settling time for autovacuum
    const listMs = new Map<string, number[]>(views.map((v) => [v.name, []]));
    for (let i = 0; i < LIST_ROUNDS; i++) {
      for (const view of views) {
        const r = await http.get(view.path);
        if (r.status !== 200) throw new Error(`${view.name}: HTTP ${r.status}`);
        listMs.get(view.name)!.push(r.ms);
      }
    }
    for (const view of views) {
      const ms = listMs.get(view.name)!;
      say(`list right after the upload, ${view.name}: first ${round1(ms[0])} ms, p50 ${round1(percentile(ms, 50))} ms, p95 ${round1(percentile(ms, 95))} ms`);
    }
    const listP95 = Math.max(...views.map((v) => percentile(listMs.get(v.name)!, 95)));
    await server.stop();
    server = undefined;

    // 3. raw COPY of the same file into a scratch table
    say('raw COPY of the same file');
    await db.query('create table scratch_copy (name text, image text, caption text, camera text, priority text, priority_score text, client_batch_id text, site text)');
    const copyStarted = performance.now();
    await pipeline(createReadStream(csvPath), db.query(copyFrom('copy scratch_copy from stdin (format csv, header true)')));
    const copySeconds = (performance.now() - copyStarted) / 1000;
    const [{ n }] = (await db.query('select count(*)::int as n from scratch_copy')).rows;
    say(`raw COPY: ${n.toLocaleString('en-US')} rows in ${copySeconds.toFixed(1)} s`);
    await db.end();

    const rowsPerS = Math.round(ROWS / seconds);
    const rawPerS = Math.round(ROWS / copySeconds);
    console.log(JSON.stringify({
      bench: 'upload', rows: ROWS, seconds: Number(seconds.toFixed(2)), rows_per_s: rowsPerS, raw_copy_rows_per_s: rawPerS,
      ratio_vs_copy: Number((rowsPerS / rawPerS).toFixed(3)), peak_rss_mb: peak, list_p95_after_upload_ms: round1(listP95),
    }));
  } finally {
    await server?.stop();
    await postgres.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
