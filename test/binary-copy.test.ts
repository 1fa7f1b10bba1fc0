import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryCopyFields } from '../src/db/binary-copy.ts';
import { cloneTemplateDatabase } from './helpers/database.ts';

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** The same bytes in pieces of `size` (framing split anywhere). */
function inPieces(bytes: Buffer, size: number): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  return Readable.from(pieces);
}

describe('binary COPY field stream (export downloads)', () => {
  let client: pg.Client;
  // pieces as export files store them: a large one, a tiny one, an empty one
  const pieces = [randomBytes(3 * 1024 * 1024 + 17), Buffer.from('a,b\n'), Buffer.alloc(0), randomBytes(70_000)];
  const copySql = 'copy (select data from copy_pieces order by seq) to stdout (format binary)';

  beforeAll(async () => {
    client = new pg.Client({ connectionString: await cloneTemplateDatabase('binary_copy') });
    await client.connect();
    await client.query('create table copy_pieces (seq int, data bytea)');
    for (const [seq, data] of pieces.entries()) await client.query('insert into copy_pieces values ($1, $2)', [seq, data]);
  });
  afterAll(async () => {
    await client.end();
  });

  it('passes on exactly the stored bytes, in order, as PostgreSQL streams them', async () => {
    const out = await collect(client.query(copyTo(copySql)).pipe(new BinaryCopyFields()));
    expect(out.equals(Buffer.concat(pieces))).toBe(true);
  });

  it('finds the framing wherever the reads split it', async () => {
    const raw = await collect(client.query(copyTo(copySql)));
    for (const size of [1, 2, 5, 19, 4096]) {
      const out = await collect(inPieces(raw, size).pipe(new BinaryCopyFields()));
      expect(out.equals(Buffer.concat(pieces)), `pieces of ${size} bytes`).toBe(true);
    }
  });
});
