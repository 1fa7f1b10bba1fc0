import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { EmbeddedPostgres } from '../src/db/embedded-postgres.ts';

/** How a connection to `url` reaches the server: 'socket' (Unix) or 'tcp'. */
async function transport(url: string): Promise<'socket' | 'tcp'> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // the server's address is null on a Unix-socket connection
    const { rows } = await client.query<{ addr: string | null }>('select inet_server_addr()::text as addr');
    return rows[0].addr === null ? 'socket' : 'tcp';
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', () => {
  it('is reached over its Unix socket, in the cluster folder, by every client (pg, the ORM, pg-boss read the same URL)', async () => {
    const url = inject('pgAdminUrl');
    const host = decodeURIComponent(new URL(url).hostname);
    expect(host.startsWith('/')).toBe(true);
    expect(await transport(url)).toBe('socket');
  });

  it('a process that adopts the running server finds its socket too', async () => {
    const dir = decodeURIComponent(new URL(inject('pgAdminUrl')).hostname);
    const adopter = new EmbeddedPostgres({ dir, database: 'postgres' });
    const url = await adopter.start();
    expect(await transport(url)).toBe('socket');
    await adopter.stop(); // adopted: left running
    expect(await transport(inject('pgAdminUrl'))).toBe('socket');
  });

  it('falls back to TCP on 127.0.0.1 when the folder is too long for a socket address', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tasklane-long-'));
    chmodSync(base, 0o755);
    const dir = join(base, 'a-folder-name-that-makes-the-path-longer-than-a-unix-socket-address-may-be-in-linux');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const server = new EmbeddedPostgres({ dir, database: 'postgres', settings: { fsync: 'off' } });
    try {
      const url = await server.start();
      expect(new URL(url).hostname).toBe('127.0.0.1');
      expect(await transport(url)).toBe('tcp');
    } finally {
      await server.stop();
      rmSync(base, { recursive: true, force: true });
    }
  }, 120_000);
});
