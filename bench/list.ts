/**
 * `npm run bench:list`: the task list at scale (issue 3, part 5).
 *
 * Seeds (or reuses) one project with BENCH_TASKS tasks (default 1,000,000) in its own embedded
 * PostgreSQL under bench/out/, starts the real server as a child process, signs in over HTTP as
 * the instance admin, and for each view measures the HTTP time of the htmx fragment and of the
 * full page, and the time of the very same SQL (the capped count, then the page query, compiled by
 * the functions the repository uses, in the same flow) run directly with `pg`. Then it times a bulk "set priority" on
 * the N/10 tasks of one client batch (100,000 at 1M) against the raw UPDATE of the same rows.
 * It also times the project's Overview dashboard (page and htmx fragment, as the admin and as a
 * labeler) over a year of finished work (`seedHistory`, added once to the seeded database).
 * Last, on a copy of the database, the same views again while 32 annotators request next and
 * finalize through the API and uploads run (`worst_p95_under_load_ms`, bench/list-under-load.ts).
 *
 * Environment: BENCH_TASKS (default 1000000), BENCH_RESEED=1 (seed a fresh database),
 * BENCH_ROUNDS (requests per view and kind, default 40), BENCH_BULK_RUNS (default 3),
 * BENCH_DASHBOARD_SECONDS (how long the dashboard is measured, default 40), BENCH_LOAD=0 (skip the views under load), BENCH_ONLY_LOAD=1 (only them), BENCH_CPU_PROF=1 (server CPU profile into bench/out/prof), BENCH_EXPLAIN=1 (only print
 * EXPLAIN (ANALYZE, BUFFERS) of each view's count and page queries, no timing).
 * The last line of output is one JSON object.
 */
import { join } from 'node:path';
import pg from 'pg';
import { parseTaskFilter, canonicalQuery, type TaskFilter } from '../src/modules/selection/task-filter.ts';
import { compileQuery, loadTaskPage, pageOf, SMALL_VIEW, taskCountQuery, taskPageQuery, type RunQuery } from '../src/modules/tasks/task-list.repository.ts';
import { taskWhere, type TaskListScope } from '../src/modules/selection/task-where.ts';
import { sql } from 'kysely';
import { BENCH_DIR, benchDatabase, HttpClient, percentile, round1, sleep, startServer, table } from './harness.ts';
import { BULK_BATCH, seedHistory, type SeededProject } from './seed-tasks.ts';
import { ANNOTATORS, startLoad, type LoadFigures } from './list-under-load.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 1_000_000);
const ROUNDS = Math.max(30, Number(process.env.BENCH_ROUNDS ?? 40));
const WARMUP = 5;
/** the dashboard is measured for at least this long, so the refresh job runs during it */
const DASHBOARD_SECONDS = Number(process.env.BENCH_DASHBOARD_SECONDS ?? 40);
const BULK_RUNS = Math.max(1, Number(process.env.BENCH_BULK_RUNS ?? 3));
const log = (msg: string) => console.error(`[bench:list] ${msg}`);

interface ViewResult { view: string; fragP50: number; fragP95: number; fullP50: number; fullP95: number; sqlP50: number; sqlP95: number; total: string }

interface View {
  name: string;
  query: string;
}

function views(seed: SeededProject): View[] {
  return [
    { name: 'default sort', query: '' },
    { name: 'state filter', query: 'state=completed' },
    { name: 'stage + assignee', query: `assignee=${seed.labelers[0]}&stage=${seed.stages.label}` },
    { name: 'priority range', query: 'pmax=5&pmin=1' },
    { name: 'batch contains', query: 'batch=2026-117' },
    { name: 'name search', query: 'q=task-00042' },
    { name: 'sort by priority', query: 'dir=asc&sort=priority' },
    { name: 'page 200 (default)', query: 'page=200' },
  ];
}

/**
 * Views whose index was dropped or merged by issue 12 (a rare state, one stage, the created sort):
 * printed by BENCH_EXPLAIN=1 after the timed views, so a change of indexes shows what they cost.
 */
function explainOnlyViews(seed: SeededProject): View[] {
  return [
    { name: 'rare state (rejected)', query: 'state=rejected' },
    { name: 'stage filter', query: `stage=${seed.stages.review}` },
    { name: 'sort by created', query: 'sort=created' },
    { name: 'member-like: assignee only', query: `assignee=${seed.labelers[0]}` },
  ];
}

function filterOf(query: string): TaskFilter {
  const params = new URLSearchParams(query);
  const { filter, errors } = parseTaskFilter(Object.fromEntries([...new Set(params.keys())].map((k) => [k, params.getAll(k)])));
  if (Object.keys(errors).length) throw new Error(`bad view query ${query}: ${JSON.stringify(errors)}`);
  return filter;
}

/** The list's SQL exactly as the repository runs it (same flow, same compiled queries), with `pg`. */
async function runSql(client: pg.Client, scope: TaskListScope, filter: TaskFilter): Promise<number[]> {
  const run: RunQuery = async (q) => (await client.query(q.sql, q.parameters as unknown[])).rows;
  const { rows } = await loadTaskPage(run, scope, filter);
  return rows.map((r) => r.id);
}

async function explain(client: pg.Client, scope: TaskListScope, filter: TaskFilter) {
  const count = taskCountQuery(scope, filter);
  const counted = Number((await client.query<{ n: string }>(count.sql, count.parameters as unknown[])).rows[0].n);
  const queries = counted <= SMALL_VIEW ? [count] : [count, taskPageQuery(scope, filter, pageOf(filter, counted).page)];
  for (const q of queries) {
    const { rows } = await client.query(`explain (analyze, buffers, costs off, summary on) ${q.sql}`, q.parameters as unknown[]);
    console.log(rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n'));
  }
}

const idsIn = (html: string) => [...html.matchAll(/<td class="num mono">(\d+)<\/td>/g)].map((m) => Number(m[1]));

async function main() {
  const db = await benchDatabase({ tasks: TASKS, layout: 'spread', reseed: process.env.BENCH_RESEED === '1' }, log);
  const { seed } = db;
  if (process.env.BENCH_EXPLAIN === '1') {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const scope: TaskListScope = { projectId: seed.projectId, viewerId: seed.adminId, onlyAssignedToViewer: false };
    for (const view of [...views(seed), ...explainOnlyViews(seed)]) {
      console.log(`\n== ${view.name}: ?${view.query}`);
      await explain(client, scope, filterOf(view.query));
    }
    await client.end();
    await db.stop();
    return;
  }
  {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await seedHistory(client, seed, log);
    await client.end();
  }
  const results: ViewResult[] = [];
  let bulk: Awaited<ReturnType<typeof benchViews>>['bulk'] | undefined;
  let dashboard: Awaited<ReturnType<typeof benchViews>>['dashboard'] | undefined;
  let underLoad: Awaited<ReturnType<typeof benchUnderLoad>> | undefined;
  try {
    if (process.env.BENCH_ONLY_LOAD !== '1') ({ bulk, dashboard } = await benchViews(db, seed, results));
    if (process.env.BENCH_LOAD !== '0') underLoad = await benchUnderLoad(db, seed);
  } finally {
    await db.stop();
  }

  console.log(`\nTask list, ${TASKS.toLocaleString('en-US')} tasks, ${ROUNDS} requests per view and kind (ms)\n`);
  console.log(table(
    ['view', 'total', 'fragment p50', 'fragment p95', 'page p50', 'page p95', 'SQL p50', 'SQL p95', 'p95 ratio'],
    results.map((r) => [
      r.view, r.total, round1(r.fragP50), round1(r.fragP95), round1(r.fullP50), round1(r.fullP95), round1(r.sqlP50), round1(r.sqlP95),
      (Math.max(r.fragP95, r.fullP95) / r.sqlP95).toFixed(1),
    ]),
  ));
  if (dashboard) {
    console.log(`\nOverview dashboard, ${dashboard.requests} requests per kind over ${DASHBOARD_SECONDS} s (ms); figures computed in ${dashboard.computeMs} ms, served ${dashboard.live ? 'live' : `from stored figures, refreshed ${dashboard.refreshes} times by the job meanwhile`}\n`);
    console.log(table(['view', 'p50', 'p95', 'max'], dashboard.rows.map((r) => [r.view, round1(r.p50), round1(r.p95), round1(r.max)])));
  }
  if (bulk) {
    console.log(`\nBulk set priority on ${bulk.selected.toLocaleString('en-US')} tasks (client batch ${BULK_BATCH}), median of ${BULK_RUNS}:`);
    console.log(bulk.bulkMs === null ? `  HTTP bulk action: pending (${bulk.note})` : `  HTTP bulk action (POST → job completed): ${Math.round(bulk.bulkMs)} ms`);
    console.log(`  raw UPDATE: ${Math.round(bulk.rawMs)} ms`);
  }
  if (underLoad) {
    const l = underLoad.load;
    console.log(`\nThe same views under load: ${ANNOTATORS} annotators (${l.cyclesPerS} request next + finalize cycles/s, cycle p95 ${l.cycleP95Ms} ms, ${l.errors} errors) and ${l.uploads} uploads (${l.uploadedRows.toLocaleString('en-US')} rows) meanwhile (ms)\n`);
    console.log(table(['view', 'fragment p95', 'page p95'], underLoad.rows.map((r) => [r.view, round1(r.fragP95), round1(r.fullP95)])));
  }
  const worstP95 = Math.max(...results.map((r) => Math.max(r.fragP95, r.fullP95)));
  const worstRatio = Math.max(...results.map((r) => Math.max(r.fragP95, r.fullP95) / r.sqlP95));
  console.log(JSON.stringify({
    bench: 'list', tasks: TASKS, worst_p95_ms: round1(worstP95), worst_ratio_vs_sql: Math.round(worstRatio * 100) / 100,
    dashboard_p95_ms: dashboard ? round1(Math.max(...dashboard.rows.map((r) => r.p95))) : null,
    dashboard_compute_ms: dashboard?.computeMs ?? null, dashboard_refreshes: dashboard?.refreshes ?? null,
    bulk_100k_ms: bulk?.bulkMs == null ? null : Math.round(bulk.bulkMs), bulk_raw_ms: bulk ? Math.round(bulk.rawMs) : null,
    bulk_hot_share: bulk && bulk.hot.updated ? Math.round((bulk.hot.hot / bulk.hot.updated) * 1000) / 1000 : null,
    worst_p95_under_load_ms: underLoad ? round1(Math.max(...underLoad.rows.map((r) => Math.max(r.fragP95, r.fullP95)))) : null,
    load_cycles_per_s: underLoad?.load.cyclesPerS ?? null, load_upload_rows: underLoad?.load.uploadedRows ?? null,
  }));
}

const median = (v: number[]) => percentile(v, 50);

/** The views one by one (fragment, full page and their SQL), the dashboard, then the bulk edit. */
async function benchViews(db: Awaited<ReturnType<typeof benchDatabase>>, seed: SeededProject, results: ViewResult[]) {
  const nodeArgs = process.env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', '--cpu-prof-dir', join(BENCH_DIR, 'prof')] : [];
  const server = await startServer(db.url, { RUN_WORKERS: 'true' }, nodeArgs);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  let bulk: { bulkMs: number | null; rawMs: number; selected: number; note?: string; hot: { updated: number; hot: number } } | undefined;
  let dashboard: Awaited<ReturnType<typeof benchDashboard>> | undefined;
  try {
    const http = new HttpClient(server.url);
    await http.signIn(seed.adminEmail, seed.password);
    const scope: TaskListScope = { projectId: seed.projectId, viewerId: seed.adminId, onlyAssignedToViewer: false };
    const base = `/projects/${seed.projectId}/tasks`;
    const fragmentHeaders = { 'HX-Request': 'true', 'HX-Target': 'task-results' };

    for (const view of views(seed)) {
      const filter = filterOf(view.query);
      if (canonicalQuery(filter) !== view.query) throw new Error(`view query is not canonical: ${view.query} vs ${canonicalQuery(filter)}`);
      const path = view.query ? `${base}?${view.query}` : base;
      // warm up, and check that HTTP and SQL show the same rows
      let sqlIds: number[] = [];
      for (let i = 0; i < WARMUP; i++) {
        const frag = await http.get(path, fragmentHeaders);
        const full = await http.get(path);
        sqlIds = await runSql(client, scope, filter);
        if (frag.status !== 200 || full.status !== 200) throw new Error(`${view.name}: HTTP ${frag.status}/${full.status}`);
        if (i === 0 && (idsIn(frag.text).join() !== sqlIds.join() || idsIn(full.text).join() !== sqlIds.join())) {
          throw new Error(`${view.name}: the page does not show the rows of the SQL`);
        }
      }
      if (!sqlIds.length) throw new Error(`${view.name}: the view is empty`);
      const frag: number[] = [];
      const full: number[] = [];
      const direct: number[] = [];
      let total = '';
      // interleaved, so that any background load hits the three kinds alike
      for (let i = 0; i < ROUNDS; i++) {
        const f = await http.get(path, fragmentHeaders);
        frag.push(f.ms);
        full.push((await http.get(path)).ms);
        const started = performance.now();
        await runSql(client, scope, filter);
        direct.push(performance.now() - started);
        total ||= /of <strong[^>]*>([^<]+)<\/strong>/.exec(f.text)?.[1] ?? '0';
      }
      const r = {
        view: view.name, total,
        fragP50: percentile(frag, 50), fragP95: percentile(frag, 95),
        fullP50: percentile(full, 50), fullP95: percentile(full, 95),
        sqlP50: percentile(direct, 50), sqlP95: percentile(direct, 95),
      };
      results.push(r);
      log(`${view.name}: fragment p95 ${round1(r.fragP95)} ms, page p95 ${round1(r.fullP95)} ms, SQL p95 ${round1(r.sqlP95)} ms`);
    }

    dashboard = await benchDashboard(server.url, http, client, seed);
    bulk = await benchBulk(http, client, seed, scope);
  } finally {
    await client.end();
    await server.stop();
  }
  return { results, bulk, dashboard };
}


/**
 * The views of the first phase (fragment and full page, interleaved) while annotators and uploads
 * load the same server and project, on a copy of the seeded database (their writes must not
 * reach the seed), served by a fresh server process with its workers (the uploads need them).
 */
async function benchUnderLoad(db: Awaited<ReturnType<typeof benchDatabase>>, seed: SeededProject) {
  log('copying the database for the run under load');
  const copy = await db.copy(`bench_list_load`);
  const server = await startServer(copy.url, { RUN_WORKERS: 'true' });
  try {
    const http = new HttpClient(server.url);
    await http.signIn(seed.adminEmail, seed.password);
    const base = `/projects/${seed.projectId}/tasks`;
    const fragmentHeaders = { 'HX-Request': 'true', 'HX-Target': 'task-results' };
    const paths = views(seed).map((v) => ({ view: v.name, path: v.query ? `${base}?${v.query}` : base }));
    for (const { path } of paths) for (let i = 0; i < WARMUP; i++) await http.get(path);
    const load = await startLoad(server.url, copy.url, seed, log);
    const rows: { view: string; fragP95: number; fullP95: number }[] = [];
    let figures: LoadFigures;
    try {
      for (const { view, path } of paths) {
        const frag: number[] = [];
        const full: number[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          const f = await http.get(path, fragmentHeaders);
          const p = await http.get(path);
          if (f.status !== 200 || p.status !== 200) throw new Error(`${view} under load: HTTP ${f.status}/${p.status}`);
          frag.push(f.ms);
          full.push(p.ms);
        }
        rows.push({ view, fragP95: percentile(frag, 95), fullP95: percentile(full, 95) });
        log(`${view} under load: fragment p95 ${round1(rows.at(-1)!.fragP95)} ms, page p95 ${round1(rows.at(-1)!.fullP95)} ms`);
      }
    } finally {
      figures = await load.stop();
    }
    return { rows, load: figures };
  } finally {
    await server.stop();
    await copy.drop();
  }
}

/**
 * The Overview dashboard (`GET /projects/:id`): the full page and the htmx fragment its panels
 * poll, as the admin (the whole project) and as a labeler (their own figures), interleaved. The
 * warm-up's first request computes and stores the figures; after that a large project is served
 * from them while the refresh job recomputes them in the background, as in production.
 */
async function benchDashboard(baseUrl: string, admin: HttpClient, client: pg.Client, seed: SeededProject) {
  const path = `/projects/${seed.projectId}`;
  const fragment = { 'HX-Request': 'true', 'HX-Target': 'dashboard' };
  const labeler = new HttpClient(baseUrl);
  const { rows: emails } = await client.query<{ email: string }>('select email from users where id = $1', [seed.labelers[0]]);
  await labeler.signIn(emails[0].email, seed.password);
  const kinds: { view: string; http: HttpClient; headers: Record<string, string> }[] = [
    { view: 'admin page', http: admin, headers: {} },
    { view: 'admin fragment (htmx refresh)', http: admin, headers: fragment },
    { view: 'labeler page (own figures)', http: labeler, headers: {} },
  ];
  for (const k of kinds) {
    for (let i = 0; i < WARMUP; i++) {
      const res = await k.http.get(path, k.headers);
      if (res.status !== 200 || !res.text.includes('id="dashboard"')) throw new Error(`${k.view}: HTTP ${res.status}`);
      if (i === 0) log(`dashboard ${k.view}: first request ${Math.round(res.ms)} ms`);
    }
  }
  // spread over DASHBOARD_SECONDS, like browsers polling: the stored figures go stale and the
  // job recomputes them while requests are measured, so its load is in the figures
  const times = kinds.map(() => [] as number[]);
  const computed = async () => (await client.query<{ at: string; compute_ms: number }>(
    `select computed_at::text as at, compute_ms from dashboard_snapshots where project_id = $1 and user_id is null and range_days = 30`, [seed.projectId])).rows[0];
  const seen = new Set<string>();
  const started = performance.now();
  for (let i = 0; i < ROUNDS || performance.now() - started < DASHBOARD_SECONDS * 1000; i++) {
    for (const [j, k] of kinds.entries()) times[j].push((await k.http.get(path, k.headers)).ms);
    const c = await computed();
    if (c) seen.add(c.at);
    await sleep(100);
  }
  const last = await computed();
  const computeMs = last?.compute_ms ?? null;
  const result = kinds.map((k, j) => ({ view: k.view, p50: percentile(times[j], 50), p95: percentile(times[j], 95), max: Math.max(...times[j]) }));
  for (const r of result) log(`dashboard ${r.view}: p95 ${round1(r.p95)} ms over ${times[0].length} requests`);
  return { rows: result, computeMs, live: computeMs !== null && computeMs <= 50, requests: times[0].length, refreshes: Math.max(0, seen.size - 1) };
}

/**
 * Bulk "set priority" over HTTP (the manager/admin form POST of the bulk contract: a job above
 * 5,000 tasks, finished when its bulk_operations row is completed) against the raw UPDATE of the
 * same rows. Each run writes a new value so every row really changes; the original priorities,
 * events and operation rows are restored afterwards so the database stays as seeded.
 */
async function benchBulk(http: HttpClient, client: pg.Client, seed: SeededProject, scope: TaskListScope) {
  const query = `batch=${BULK_BATCH}&batch_match=exact`;
  const filter = filterOf(query);
  const where = taskWhere(scope, filter);
  const selected = Number((await client.query(`select count(*) as n from tasks where project_id = $1 and client_batch_id = $2`, [seed.projectId, BULK_BATCH])).rows[0].n);
  const started = new Date();
  let hot = { updated: 0, hot: 0 };
  await client.query('drop table if exists bench_bulk_restore');
  await client.query('create unlogged table bench_bulk_restore as select id, priority from tasks where project_id = $1 and client_batch_id = $2', [seed.projectId, BULK_BATCH]);
  const bulkMs: number[] = [];
  const rawMs: number[] = [];
  let note: string | undefined;
  // how many of the updates were HOT (no index entry written): statistics reach the view ~1 s
  // after a transaction ends
  const updates = async () => {
    await sleep(1100);
    const { rows } = await client.query<{ upd: string; hot: string }>(`select n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname = 'tasks'`);
    return { upd: Number(rows[0].upd), hot: Number(rows[0].hot) };
  };
  const before = await updates();
  try {
    for (let run = 0; run < BULK_RUNS; run++) {
      if (note === undefined) {
        const result = await bulkOverHttp(http, client, seed, query, 1000 + run, selected);
        if (typeof result === 'string') note = result;
        else bulkMs.push(result);
      }
      const raw = compileQuery(sql`update tasks t set priority = ${2000 + run} where ${where}`);
      const t0 = performance.now();
      const res = await client.query(raw.sql, raw.parameters as unknown[]);
      rawMs.push(performance.now() - t0);
      if (res.rowCount !== selected) throw new Error(`raw UPDATE changed ${res.rowCount} rows, expected ${selected}`);
      log(`bulk run ${run + 1}: HTTP ${bulkMs.at(-1) === undefined ? 'pending' : `${Math.round(bulkMs.at(-1)!)} ms`}, raw ${Math.round(rawMs.at(-1)!)} ms`);
    }
    const after = await updates();
    hot = { updated: after.upd - before.upd, hot: after.hot - before.hot };
    log(`tasks rows updated by the bulk runs: ${hot.updated.toLocaleString('en-US')}, of them HOT: ${hot.hot.toLocaleString('en-US')} (priority is indexed: the pool's order)`);
  } finally {
    await client.query('update tasks t set priority = r.priority from bench_bulk_restore r where r.id = t.id');
    await client.query('drop table bench_bulk_restore');
    await client.query('delete from task_events where project_id = $1 and created_at >= $2', [seed.projectId, started]);
    await client.query(`delete from bulk_operations where project_id = $1 and created_at >= $2`, [seed.projectId, started]);
    await client.query('vacuum (analyze) tasks');
  }
  return { bulkMs: bulkMs.length ? median(bulkMs) : null, rawMs: median(rawMs), selected, note, hot };
}

/** POST the bulk form; ms until its operation is completed, or why it could not run. */
async function bulkOverHttp(http: HttpClient, client: pg.Client, seed: SeededProject, filterQuery: string, priority: number, selected: number): Promise<number | string> {
  const listPath = `/projects/${seed.projectId}/tasks?${filterQuery}`;
  const page = await http.get(listPath);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!csrf) return 'no CSRF token on the list page';
  const t0 = performance.now();
  const res = await http.request('POST', `/projects/${seed.projectId}/tasks/bulk`, {
    form: { _csrf: csrf, action: 'priority', priority: String(priority), scope: 'all', filter: filterQuery },
  });
  if (res.status === 404) return 'POST /projects/:projectId/tasks/bulk does not exist yet on this branch';
  const location = res.headers.get('location') ?? '';
  const match = /\/bulk\/(\d+)/.exec(location);
  if (res.status !== 303 || !match) return `unexpected answer ${res.status} ${location}`;
  const operationId = Number(match[1]);
  for (;;) {
    const { rows } = await client.query<{ status: string; error_message: string | null }>('select status, error_message from bulk_operations where id = $1', [operationId]);
    const status = rows[0]?.status;
    if (status === 'completed') {
      const ms = performance.now() - t0;
      const { rows: done } = await client.query<{ changed: number; total: number }>('select changed, total from bulk_operations where id = $1', [operationId]);
      if (done[0].changed !== selected) throw new Error(`bulk operation ${operationId} changed ${done[0].changed} of ${done[0].total} tasks, expected ${selected}`);
      return ms;
    }
    if (status === 'failed') throw new Error(`bulk operation ${operationId} failed: ${rows[0].error_message}`);
    if (performance.now() - t0 > 600_000) throw new Error(`bulk operation ${operationId} did not finish in 10 minutes`);
    await sleep(20);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
