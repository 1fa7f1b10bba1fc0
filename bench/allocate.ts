/**
 * Allocation benchmark (issue 5): N tasks in the Label stage, C annotators (C users with API
 * tokens) calling the HTTP API in a loop — request next → finalize — for S seconds against TWO
 * server processes sharing one database; then, in the same run, the raw SQL claim loop: the very
 * claim statement the app runs (claimSql), on C `pg` connections, without HTTP or the app; and the
 * physical limit: the same SKIP LOCKED claim on a minimal table with only the pool index
 * (`raw_min_claims_per_s`; the target is allocations_per_s / raw_min_claims_per_s ≥ 0.15).
 *
 *   npm run bench:allocate
 *   BENCH_TASKS=100000 BENCH_CLIENTS=16 BENCH_SECONDS=10 npm run bench:allocate   # quick run
 *   BENCH_PG_STATS=1 npm run bench:allocate   # also print the HTTP phase's top statements (pg_stat_statements)
 *
 * With DATABASE_URL set (a superuser URL of any PostgreSQL ≥ 15) a throw-away database is
 * created there; otherwise a throw-away embedded PostgreSQL cluster is started.
 * The last line is one JSON object with the figures.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { EmbeddedPostgres, ensureDatabase } from '../src/db/embedded-postgres.ts';
import { migrate } from '../src/db/migrate.ts';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { claimSql } from '../src/modules/workflow/claim-sql.ts';
import { PreparingClient } from '../src/db/prepared-statements.ts';
import { PG_STATS_SETTINGS, printTopStatements, startServer } from './harness.ts';
import { JsonClient } from './json-client.ts';

const TASKS = Number(process.env.BENCH_TASKS ?? 1_000_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 64);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const PROCESSES = 2;
const PG_STATS = process.env.BENCH_PG_STATS === '1';
const say = (msg: string) => console.log(`[bench] ${msg}`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function database(): Promise<{ url: string; stop: () => Promise<void> }> {
  const name = `tasklane_bench_${randomBytes(4).toString('hex')}`;
  if (process.env.DATABASE_URL) {
    const admin = process.env.DATABASE_URL;
    await ensureDatabase(admin, name);
    return { url: admin.replace(/\/[^/?]*(\?|$)/, `/${name}$1`), stop: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
  chmodSync(dir, 0o755);
  // durability settings off: a throw-away cluster; both loops run against the same settings
  const server = new EmbeddedPostgres({
    dir, database: name,
    settings: {
      fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300', autovacuum_naptime: '10s',
      ...(PG_STATS ? PG_STATS_SETTINGS : {}),
    },
  });
  const url = await server.start();
  return { url, stop: async () => { await server.stop(); rmSync(dir, { recursive: true, force: true }); } };
}

async function main() {
  const db = await database();
  try {
    await migrate(db.url);
    const orm = await MikroORM.init(ormConfig(db.url, { pool: { min: 0, max: 4 } }));
    const s = createServices(orm.em.fork());
    const admin = await s.users.createFirstAdmin({ email: 'bench-admin@example.org', name: 'Bench admin', password: 'bench-admin-password' });
    const project = await s.projects.create(admin, { name: 'Allocation bench', reviewStages: 0 });
    const users: { id: number; token: string }[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const fork = createServices(orm.em.fork());
      const { user } = await fork.users.create({ email: `annotator${i}@example.org`, name: `Annotator ${i}` });
      users.push({ id: user.id, token: (await fork.apiTokens.create(user, 'bench')).token });
    }
    // the app's client class: the claim runs prepared, exactly as the app runs it
    const pool = new pg.Pool({ connectionString: db.url, max: CLIENTS + 2, Client: PreparingClient as unknown as typeof pg.Client });
    await pool.query(`insert into project_members (project_id, user_id, role) select $1, unnest($2::bigint[]), 'member'`, [project.id, users.map((u) => u.id)]);
    const label = Number((await pool.query(`select id from stages where project_id = $1 and kind = 'label'`, [project.id])).rows[0].id);
    let started = Date.now();
    // priorities 0–9, half of the tasks with a score, creation spread over a month
    await pool.query(
      `insert into tasks (project_id, name, stage_id, priority, priority_score, created_at)
       select $1, 'bench-' || g, $2, (g * 7919) % 10, case when g % 2 = 0 then ((g * 104729) % 1000000) / 1000000.0 end,
              timestamptz '2026-10-01' + ((g * 15485863) % 2592000) * interval '1 second'
       from generate_series(1::bigint, $3::bigint) g`,
      [project.id, label, TASKS],
    );
    await pool.query('vacuum analyze tasks');
    say(`seeded ${TASKS.toLocaleString('en-US')} tasks and ${CLIENTS} annotators in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // ── HTTP: two server processes, C annotators, request next → finalize ─────────────────────
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const servers = await Promise.all(Array.from({ length: PROCESSES }, () => startServer(db.url, { RUN_WORKERS: 'false' }, nodeArgs)));
    say(`servers: ${servers.map((x) => x.url).join(', ')}`);
    const owner = new Map<number, number>();
    let duplicates = 0;
    let allocations = 0;
    let errors = 0;
    const nextMs: number[] = [];
    const finalizeMs: number[] = [];
    // warm up each process (JIT, pools) with one call per server
    for (const server of servers) await fetch(`${server.url}/api/v1/projects/${project.id}`, { headers: { authorization: `Bearer ${users[0].token}` } });
    started = Date.now();
    const deadline = started + SECONDS * 1000;
    if (PG_STATS) await pool.query('create extension if not exists pg_stat_statements; select pg_stat_statements_reset()');
    const cpuBefore = process.cpuUsage();
    await Promise.all(users.map(async (u, i) => {
      const http = new JsonClient(`${servers[i % PROCESSES].url}/api/v1/projects/${project.id}`, { authorization: `Bearer ${u.token}` });
      while (Date.now() < deadline) {
        const t0 = performance.now();
        const res = await http.post<{ items?: { id: number; version: number }[] }>('/stages/Label/next', {});
        nextMs.push(performance.now() - t0);
        if (!res.ok) { errors++; continue; }
        const task = res.body.items?.[0];
        if (!task) break;
        const previous = owner.get(task.id);
        if (previous === undefined) { owner.set(task.id, i); allocations++; } else if (previous !== i) duplicates++;
        const t1 = performance.now();
        const done = await http.post(`/tasks/${task.id}/finalization`, { answers: {}, version: task.version });
        finalizeMs.push(performance.now() - t1);
        if (!done.ok) errors++;
      }
      http.close();
    }));
    const cpu = process.cpuUsage(cpuBefore);
    const httpSeconds = (Date.now() - started) / 1000;
    if (PG_STATS) await printTopStatements(say, pool);
    await Promise.all(servers.map((x) => x.stop()));
    const dbDuplicatesHttp = Number((await pool.query(
      `select count(*) from (select task_id from assignments a join tasks t on t.id = a.task_id where t.project_id = $1 and a.kind = 'auto' group by task_id having count(*) > 1) d`,
      [project.id])).rows[0].count);
    nextMs.sort((a, b) => a - b);
    finalizeMs.sort((a, b) => a - b);
    const allocationsPerS = allocations / httpSeconds;
    say(`HTTP: ${allocations} allocations in ${httpSeconds.toFixed(1)} s = ${allocationsPerS.toFixed(0)}/s; request-next p50 ${percentile(nextMs, 50).toFixed(1)} ms, p95 ${percentile(nextMs, 95).toFixed(1)} ms; finalize p95 ${percentile(finalizeMs, 95).toFixed(1)} ms; errors ${errors}; duplicates seen by clients ${duplicates}, in the database ${dbDuplicatesHttp}; the load generator's CPU ${((cpu.user + cpu.system) / 1000 / allocations).toFixed(2)} ms per cycle`);

    // ── raw SQL: the same claim statement on C connections ───────────────────────────────────
    const kysely = orm.em.getKysely();
    const statements = users.map((u) => claimSql({ projectId: project.id, stageId: label, userId: u.id, limit: 1, leaseMinutes: 120 }).compile(kysely));
    const rawOwner = new Map<string, number>();
    let rawClaims = 0;
    let rawDuplicates = 0;
    const rawMs: number[] = [];
    started = Date.now();
    const rawDeadline = started + SECONDS * 1000;
    await Promise.all(statements.map(async (q, i) => {
      const client = await pool.connect();
      try {
        while (Date.now() < rawDeadline) {
          const t0 = performance.now();
          const { rows } = await client.query(q.sql, q.parameters as unknown[]);
          rawMs.push(performance.now() - t0);
          if (rows.length === 0) break;
          for (const r of rows as { id: string }[]) {
            if (rawOwner.has(r.id)) rawDuplicates++;
            rawOwner.set(r.id, i);
            rawClaims++;
          }
        }
      } finally {
        client.release();
      }
    }));
    const rawSeconds = (Date.now() - started) / 1000;
    const dbDuplicatesAll = Number((await pool.query(
      `select count(*) from (select task_id from assignments a join tasks t on t.id = a.task_id where t.project_id = $1 and a.kind = 'auto' group by task_id having count(*) > 1) d`,
      [project.id])).rows[0].count);
    rawMs.sort((a, b) => a - b);
    const rawPerS = rawClaims / rawSeconds;
    say(`raw SQL: ${rawClaims} claims in ${rawSeconds.toFixed(1)} s = ${rawPerS.toFixed(0)}/s; p95 ${percentile(rawMs, 95).toFixed(1)} ms; duplicates ${rawDuplicates}, in the database ${dbDuplicatesAll}`);
    // ── the physical limit: the same SKIP LOCKED claim in pool order on a minimal table ────────
    // (1,000,000 rows, only the pool index, C connections): what first-come-first-serve claims
    // cost on this machine with nothing else to maintain
    await pool.query(`create unlogged table bench_min_tasks (id bigint primary key, priority int not null, created_at timestamptz not null, assignee_id bigint)`);
    await pool.query(`insert into bench_min_tasks select g, (g * 7919) % 10, timestamptz '2026-10-01' + ((g * 15485863) % 2592000) * interval '1 second', null
                      from generate_series(1::bigint, $1::bigint) g`, [TASKS]);
    await pool.query(`create index bench_min_pool on bench_min_tasks (priority, created_at, id) where assignee_id is null`);
    await pool.query('vacuum analyze bench_min_tasks');
    const minClaim = `update bench_min_tasks set assignee_id = $1 where id = (
      select id from bench_min_tasks where assignee_id is null order by priority, created_at, id limit 1 for update skip locked) returning id`;
    let minClaims = 0;
    started = Date.now();
    const minDeadline = started + SECONDS * 1000;
    await Promise.all(users.map(async (u) => {
      const client = await pool.connect();
      try {
        while (Date.now() < minDeadline) {
          const { rowCount } = await client.query(minClaim, [u.id]);
          if (!rowCount) break;
          minClaims++;
        }
      } finally {
        client.release();
      }
    }));
    const minPerS = minClaims / ((Date.now() - started) / 1000);
    say(`raw SQL on a minimal table: ${minClaims} claims = ${minPerS.toFixed(0)}/s`);
    await pool.end();
    await orm.close();

    const result = {
      bench: 'allocate', clients: CLIENTS, processes: PROCESSES,
      allocations_per_s: Math.round(allocationsPerS),
      p95_ms: Number(percentile(nextMs, 95).toFixed(1)),
      raw_sql_per_s: Math.round(rawPerS),
      ratio_vs_sql: Number((allocationsPerS / rawPerS).toFixed(2)),
      raw_min_claims_per_s: Math.round(minPerS),
      ratio_vs_min: Number((allocationsPerS / minPerS).toFixed(3)),
      finalize_p95_ms: Number(percentile(finalizeMs, 95).toFixed(1)),
      duplicates: duplicates + rawDuplicates + dbDuplicatesAll,
    };
    console.log(JSON.stringify(result));
  } finally {
    await db.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
