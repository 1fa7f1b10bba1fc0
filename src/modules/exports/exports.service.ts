import type { EntityManager } from '@mikro-orm/postgresql';
import { pipeline, type Readable } from 'node:stream';
import { sql } from 'kysely';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { PgBoss } from 'pg-boss';
import { enqueueInTransaction, interruptedIds } from '../../lib/job-queue.ts';
import { notFound, unprocessable } from '../../lib/errors.ts';
import { paged, type Paged } from '../../lib/pagination.ts';
import { BinaryCopyFields } from '../../db/binary-copy.ts';
import { StreamedBytes } from '../../lib/memory.ts';
import { EXPORT_FORMATS, type ExportFormat } from './export-formats.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectsService } from '../projects/projects.service.ts';
import { loadSelection, selectionWhere, storeSelection, type StoredSelection, type TaskSelection } from '../selection/task-selection.ts';
import type { IUser } from '../users/user.entity.ts';
import { Export, type IExport } from './export.entity.ts';
import { exportCopySql, exportFileCopySql, ExportsRepository, selectExportIds, type ExportRow } from './exports.repository.ts';

export const RUN_EXPORT = 'run-export';
/** advisory lock class of an export being written (the key is the export's id) */
const EXPORT_LOCK = 727276;
export const EXPORT_PAGE_SIZE = 25;
/** size of one stored piece of the file */
const CHUNK_BYTES = 512 * 1024;
const DAY_MS = 86_400_000;

export const EXPORT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

export class ExportsService {
  private readonly repo: ExportsRepository;

  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {
    this.repo = new ExportsRepository(em);
  }

  /** Starts an export of a selection: the tracking row and its job commit together. */
  async start(access: ProjectAccess, actor: IUser, format: string, selection: TaskSelection): Promise<IExport> {
    access.require('manager');
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw unprocessable('Choose CSV, JSON or JSONL', { format: 'Choose CSV, JSON or JSONL' });
    if ('ids' in selection && selection.ids.length === 0) throw unprocessable('Select at least one task', { ids: 'Select at least one task' });
    if (!this.boss) throw new Error('exports need the job queue');
    const boss = this.boss;
    return this.em.transactional(async (em) => {
      const row = em.create(Export, { project: access.project, format: format as ExportFormat, selection: storeSelection(selection), createdBy: actor });
      await em.flush();
      await enqueueInTransaction(em, boss, RUN_EXPORT, { exportId: row.id });
      return row;
    });
  }

  async list(access: ProjectAccess, page: number): Promise<Paged<ExportRow>> {
    const { rows, total } = await this.repo.list(access.project.id, EXPORT_PAGE_SIZE, (page - 1) * EXPORT_PAGE_SIZE);
    return paged(rows, total, page, EXPORT_PAGE_SIZE);
  }

  async get(access: ProjectAccess, exportId: number): Promise<ExportRow> {
    const row = await this.repo.get(access.project.id, exportId);
    if (!row) throw notFound('No such export');
    return row;
  }

  /**
   * A finished export's file as a stream (the caller checks it is completed): one binary COPY of
   * its pieces in order on a dedicated connection, the framing stripped as it streams. Read as
   * rows, each 512 KiB piece would arrive whole (and as a string first), which left well over
   * 100 MB of garbage behind a download of a large file.
   */
  async file(exportId: number): Promise<Readable> {
    const client = new pg.Client({ connectionString: this.em.config.get('clientUrl') });
    await client.connect();
    return pipeline(client.query(copyTo(exportFileCopySql(exportId))), new BinaryCopyFields(), () => {
      void client.end().catch(() => {});
    });
  }

  /**
   * Writes the export: PostgreSQL's COPY formats the rows on a dedicated connection, in one read
   * transaction over a temp table of the selected ids, and streams them out; the file is stored
   * in 512 KiB pieces with its progress on other connections, so progress shows while it runs and
   * memory stays flat. A retry starts the file again from scratch (idempotent).
   */
  /**
   * Writes (or rewrites) an export's file from one snapshot. A retry starts the file over, so it
   * holds every row once; the export's advisory lock (held on this run's connection, so it dies with
   * a killed process) keeps a second runner from writing beside a first that is not dead after all.
   * Throws to be retried; the job's failure hook records a final failure (see `fail`).
   */
  async runNow(exportId: number, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    const row = await this.em.findOne(Export, { id: exportId }, { populate: ['project', 'createdBy'] });
    if (!row || row.status === 'completed' || row.status === 'failed' || row.status === 'expired') return;
    const { actor, access } = await new ProjectsService(this.em).accessOfJobOwner(row.createdBy, row.project.id);
    const where = selectionWhere(access.project.id, actor.id, loadSelection(row.selection as StoredSelection));
    const client = new pg.Client({ connectionString: this.em.config.get('clientUrl') });
    try {
      await client.connect();
      const { rows: [lock] } = await client.query('select pg_try_advisory_lock($1, $2::int) as held', [EXPORT_LOCK, exportId]);
      if (!lock.held) throw new Error(`export ${exportId} is being written by another worker`);
      await client.query('begin isolation level repeatable read');
      const ids = selectExportIds(where).compile(this.em.getKysely());
      await client.query(ids.sql, ids.parameters as unknown[]);
      const total = Number((await client.query('select count(*) as n from export_ids')).rows[0].n);
      await this.repo.reset(exportId, total);

      const file = new ChunkedFile(async (data, rowsSoFar) => this.repo.addChunk(exportId, file.seq++, data, Math.min(rowsSoFar, total)));
      const copy = client.query(copyTo(exportCopySql(row.format)));
      const shape = row.format === 'json' ? new JsonArrayShaper() : null;
      if (shape) await file.write(Buffer.from('['), 0);
      const streamed = new StreamedBytes();
      for await (const chunk of copy as AsyncIterable<Buffer>) {
        signal?.throwIfAborted();
        streamed.add(chunk.length);
        await file.write(shape ? shape.push(chunk) : chunk, countNewlines(chunk));
      }
      if (shape) await file.write(shape.end(), 0);
      await file.close();
      await client.query('commit');
      await this.repo.finish(exportId, 'completed', null, copy.rowCount ?? total);
    } finally {
      await client.end().catch(() => {});
    }
  }

  /** The running exports among `rows` whose job was interrupted and waits to resume. */
  interrupted(rows: ExportRow[]): Promise<Set<number>> {
    return interruptedIds(this.em, RUN_EXPORT, 'exportId', rows.filter((r) => r.status === 'queued' || r.status === 'running').map((r) => r.id));
  }

  /** The export's final failure, as the Exports list shows it. */
  async fail(exportId: number, reason: string): Promise<void> {
    await sql`update exports set status = 'failed', error_message = ${reason}, finished_at = now() where id = ${exportId} and status in ('queued', 'running')`.execute(this.em.getKysely());
  }

  /** An admin retries a failed export: it is written again from the start. */
  async reopen(exportId: number): Promise<void> {
    await sql`update exports set status = 'queued', error_message = null, finished_at = null where id = ${exportId} and status = 'failed'`.execute(this.em.getKysely());
  }

  /** Deletes the files of exports older than `days` (their rows stay, marked expired). */
  expireOld(now: Date, days: number): Promise<number> {
    return this.repo.expireFinishedBefore(new Date(now.getTime() - days * DAY_MS));
  }
}

function countNewlines(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n += 1;
  return n;
}

/** Collects the file into pieces of about CHUNK_BYTES and hands each to `store` with the rows so far. */
class ChunkedFile {
  seq = 0;
  private parts: Buffer[] = [];
  private size = 0;
  private rows = 0;

  constructor(private readonly store: (data: Buffer, rowsSoFar: number) => Promise<void>) {}

  async write(data: Buffer, rows: number): Promise<void> {
    this.parts.push(data);
    this.size += data.length;
    this.rows += rows;
    if (this.size >= CHUNK_BYTES) await this.flush();
  }

  async close(): Promise<void> {
    if (this.size > 0) await this.flush();
  }

  private async flush(): Promise<void> {
    const data = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    await this.store(data, this.rows);
  }
}

/**
 * Turns JSON Lines into the body of a JSON array as they stream: every line break but the last
 * becomes ",\n" (a line break byte never occurs inside a JSON line or a UTF-8 sequence).
 */
class JsonArrayShaper {
  private pendingBreak = false;
  private empty = true;

  push(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      if (i > start) parts.push(this.lead(), chunk.subarray(start, i));
      this.pendingBreak = true;
      start = i + 1;
    }
    if (start < chunk.length) parts.push(this.lead(), chunk.subarray(start));
    return Buffer.concat(parts);
  }

  end(): Buffer {
    return Buffer.from(this.empty ? ']\n' : '\n]\n');
  }

  /** What goes before more line content: the opening break, or the separator of the previous line. */
  private lead(): Buffer {
    if (this.empty) {
      this.empty = false;
      this.pendingBreak = false;
      return Buffer.from('\n');
    }
    if (!this.pendingBreak) return Buffer.alloc(0);
    this.pendingBreak = false;
    return Buffer.from(',\n');
  }
}
