/**
 * What every benchmark needs: its own embedded PostgreSQL cluster under bench/out/ (git-ignored),
 * a seeded database reused across runs, the real server as a child process, a signed-in HTTP
 * client, and percentiles.
 */
import { resolve } from 'node:path';
import pg from 'pg';
import { EmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { migrate } from '../src/db/migrate.ts';
import { spawnServer, type ServerProcess } from '../test/helpers/server-process.ts';
import { findSeed, seedTasks, type SeedOptions, type SeededProject } from './seed-tasks.ts';

export const BENCH_DIR = resolve(import.meta.dirname, 'out');

export interface BenchDatabase {
  url: string;
  seed: SeededProject;
  /**
   * A throw-away copy of the seeded database (no connection to it may be open), for a phase that
   * changes data the next run must find as seeded; `drop` removes it.
   */
  copy(name: string): Promise<{ url: string; drop(): Promise<void> }>;
  stop(): Promise<void>;
}

/**
 * Starts (or adopts) the benchmark cluster and returns a database seeded with `options.tasks`
 * tasks: the existing one when it already has exactly that many, else a fresh one (`reseed`
 * forces that). Each size and layout has its own database, so switching sizes costs nothing.
 */
export async function benchDatabase(options: SeedOptions & { reseed?: boolean }, log: (msg: string) => void): Promise<BenchDatabase> {
  const layout = options.layout ?? 'spread';
  const server = new EmbeddedPostgres({
    dir: BENCH_DIR,
    database: 'postgres',
    // a dedicated cluster: durability does not matter; the cache and WAL settings are the product's (tunedSettings)
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    log,
  });
  await server.start();
  try {
    return await seededDatabase(server, options, layout, log);
  } catch (err) {
    await server.stop();
    throw err;
  }
}

async function seededDatabase(server: EmbeddedPostgres, options: SeedOptions & { reseed?: boolean }, layout: string, log: (msg: string) => void): Promise<BenchDatabase> {
  const name = `bench_${layout}_${options.tasks}`;
  const url = server.url(name);
  const admin = new pg.Client({ connectionString: server.url('postgres') });
  await admin.connect();
  try {
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount;
    let seed = exists && !options.reseed ? await findSeed(url, options) : undefined;
    if (!seed) {
      if (exists) await admin.query(`drop database "${name}" with (force)`);
      await admin.query(`create database "${name}"`);
      log(`seeding database ${name}`);
      seed = await seedTasks(url, { ...options, log });
    } else {
      await migrate(url); // a new migration (e.g. an index) applies to the seeded data
      log(`reusing database ${name} (${options.tasks.toLocaleString('en-US')} tasks; BENCH_RESEED=1 to seed again)`);
    }
    const copy = async (copyName: string) => {
      const run = async (text: string) => {
        const c = new pg.Client({ connectionString: server.url('postgres') });
        await c.connect();
        try { await c.query(text); } finally { await c.end(); }
      };
      await run(`drop database if exists "${copyName}" with (force)`);
      // FILE_COPY: the files are copied as they are, far faster than WAL-logging every page of a large database
      await run(`create database "${copyName}" template "${name}" strategy file_copy`);
      return { url: server.url(copyName), drop: () => run(`drop database if exists "${copyName}" with (force)`) };
    };
    return { url, seed, copy, stop: () => server.stop() };
  } finally {
    await admin.end();
  }
}

export type RunningServer = ServerProcess;

/** Starts `src/server.ts` as its own process on the given database, echoing its output. */
export function startServer(databaseUrl: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<RunningServer> {
  // the first start on a big database may build the indexes of new migrations
  return spawnServer(databaseUrl, { env, nodeArgs, timeoutMs: 600_000, echo: true });
}

export interface TimedResponse {
  status: number;
  text: string;
  headers: Headers;
  ms: number;
}

/** A browser-like HTTP client: keeps the session cookie, reads CSRF tokens from pages. */
export class HttpClient {
  private cookies = new Map<string, string>();

  constructor(private readonly base: string) {}

  async request(method: 'GET' | 'POST', path: string, init: { headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<TimedResponse> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const started = performance.now();
    const res = await fetch(this.base + path, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    const ms = performance.now() - started;
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return { status: res.status, text, headers: res.headers, ms };
  }

  /** The session cookie, for requests made with plain fetch (e.g. streamed downloads). */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  get(path: string, headers: Record<string, string> = {}) {
    return this.request('GET', path, { headers });
  }

  /** GETs `pagePath` for its CSRF token, then posts the form to `action`. */
  async submit(pagePath: string, action: string, form: Record<string, string>, headers: Record<string, string> = {}) {
    const page = await this.get(pagePath);
    return this.request('POST', action, { form: { ...form, _csrf: csrfFrom(page.text) }, headers });
  }

  async signIn(email: string, password: string): Promise<void> {
    const res = await this.submit('/login', '/login', { email, password });
    if (res.status !== 303) throw new Error(`sign-in failed for ${email}: ${res.status}`);
  }
}

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1];
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const round1 = (n: number) => Math.round(n * 10) / 10;

export function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A plain-text table with right-aligned numbers. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows].map((r) => r.map(String));
  const width = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ');
  return [line(cells[0]), width.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Server settings that make pg_stat_statements record every statement, nested ones too (BENCH_PG_STATS=1). */
export const PG_STATS_SETTINGS = { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' };

/** Where the database's time went (BENCH_PG_STATS=1): the statements by total execution time, from pg_stat_statements. */
export async function printTopStatements(say: (msg: string) => void, db: { query: pg.Client['query'] }) {
  await db.query('create extension if not exists pg_stat_statements');
  const { rows } = await db.query(
    `select calls, round(total_exec_time)::int as total_ms, round(mean_exec_time::numeric, 2) as mean_ms, rows,
            regexp_replace(left(query, 160), '\\s+', ' ', 'g') as query
       from pg_stat_statements order by total_exec_time desc limit 12`,
  );
  say('top statements (pg_stat_statements):');
  for (const r of rows) say(`  ${String(r.total_ms).padStart(7)} ms  ${String(r.calls).padStart(5)} calls  ${r.query}`);
}
