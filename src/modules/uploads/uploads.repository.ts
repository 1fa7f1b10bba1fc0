import type { EntityManager, PostgreSqlConnection } from '@mikro-orm/postgresql';
import { ArchivesRepository } from '../archives/archives.repository.ts';
import { CREATE_TASKS_PARENTS_SQL, CREATE_TASKS_SQL } from '../workflow/create-sql.ts';
import { archiveTransition } from '../workflow/selection-transitions.ts';
import { Workflow } from '../workflow/workflow.ts';
import { sql } from 'kysely';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { BinaryCopyFields } from '../../db/binary-copy.ts';
import type { TaskRow, UploadMember, UploadStage } from './upload-rows.ts';
import type { UploadStatus } from './upload.entity.ts';

/** Advisory lock namespace of upload processing: (UPLOAD_LOCK, upload id). */
const UPLOAD_LOCK = 727275;
/** Error rows kept per upload; counters stay exact beyond it. */
export const MAX_ERROR_ROWS = 1000;

export interface UploadRow {
  id: number;
  projectId: number;
  fileName: string;
  format: string | null;
  sizeBytes: number;
  status: UploadStatus;
  defaultPriority: number | null;
  defaultPriorityScore: string | null;
  clientBatchId: string | null;
  rowsProcessed: number;
  rowsSucceeded: number;
  rowsFailed: number;
  resumeAfterRow: number;
  errorMessage: string | null;
  cancelRequested: boolean;
  createdById: number | null;
  creatorName: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  deletedAt: Date | null;
  deleteReport: string | null;
  header: string[] | null;
  attempts: number;
  bytesRead: number;
  errorCount: number;
}

export interface UploadErrorRow {
  rowNumber: number;
  field: string | null;
  message: string;
  raw: string | null;
}

const UPLOAD_COLUMNS = sql`u.id::int as "id", u.project_id::int as "projectId", u.file_name as "fileName", u.format, u.size_bytes::float8 as "sizeBytes",
  u.status, u.default_priority as "defaultPriority", u.default_priority_score::text as "defaultPriorityScore", u.client_batch_id as "clientBatchId",
  u.rows_processed as "rowsProcessed", u.rows_succeeded as "rowsSucceeded", u.rows_failed as "rowsFailed", u.resume_after_row as "resumeAfterRow",
  u.error_message as "errorMessage", u.cancel_requested as "cancelRequested", u.created_by_id::int as "createdById", cu.name as "creatorName",
  u.created_at as "createdAt", u.started_at as "startedAt", u.finished_at as "finishedAt", u.deleted_at as "deletedAt",
  u.delete_report as "deleteReport", u.header, u.attempts, u.bytes_read::float8 as "bytesRead",
  (select count(*)::int from upload_errors e where e.upload_id = u.id) as "errorCount"`;

/** A failed row as kept for the error list and the failed-rows download. */
export interface RejectedRow {
  row: number;
  problems: Array<{ field: string | null; message: string }>;
  /** an excerpt for the error list */
  raw: string;
  /** the whole row as re-uploadable text (one CSV or JSON line, with the error) */
  line: string;
}

export interface BatchOutcome {
  succeeded: number;
  /** rows that were rejected because their name exists already (in the project or earlier in the file) */
  duplicates: Array<{ row: number; message: string }>;
  cancelRequested: boolean;
}

/** COPY text format: backslash, tab, newline and carriage return escaped; `\N` is null. */
function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * The good rows of a batch as COPY text for the staging table, packed into one growing buffer as
 * they are read. Thousands of small objects or strings held for a batch's lifetime would outlive
 * young-generation collections and pile up in the old generation (the server's RSS).
 */
export class StagedRows {
  private buf: Buffer = Buffer.allocUnsafe(256 * 1024);
  private used = 0;
  /** the rows as read, packed the same way: only a duplicate (known after the insert) needs its own */
  private sources: Buffer = Buffer.allocUnsafe(256 * 1024);
  private sourcesUsed = 0;
  /** per staged row: its row number and where its source ends in `sources` (rows ascend) */
  private rows = new Int32Array(2 * 1024);
  count = 0;

  /** `source` is the row as read (kept so a duplicate can be reported; it never goes to the database) */
  add(t: TaskRow, source: string): void {
    const line = [
      String(t.row),
      copyText(t.name),
      copyText(JSON.stringify(t.data)),
      copyText(JSON.stringify(t.metadata)),
      copyText(JSON.stringify(t.preAssign)),
      String(t.priority),
      t.priorityScore ?? '\\N',
      copyText(t.clientBatchId),
      t.answers ? copyText(JSON.stringify(t.answers)) : '\\N',
      t.assigneeId === null ? '\\N' : String(t.assigneeId),
      t.assignmentKind ?? '\\N',
    ].join('\t');
    this.buf = room(this.buf, this.used, Buffer.byteLength(line) + 1);
    this.used += this.buf.write(line, this.used);
    this.buf[this.used++] = 0x0a;
    this.sources = room(this.sources, this.sourcesUsed, Buffer.byteLength(source));
    this.sourcesUsed += this.sources.write(source, this.sourcesUsed);
    if (2 * this.count + 2 > this.rows.length) {
      const bigger = new Int32Array(this.rows.length * 2);
      bigger.set(this.rows);
      this.rows = bigger;
    }
    this.rows[2 * this.count] = t.row;
    this.rows[2 * this.count + 1] = this.sourcesUsed;
    this.count++;
  }

  /** The source of a staged row, by its row number. */
  sourceOf(row: number): string {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.rows[2 * mid];
      if (r === row) return this.sources.toString('utf8', mid === 0 ? 0 : this.rows[2 * mid - 1], this.rows[2 * mid + 1]);
      if (r < row) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new Error(`row ${row} is not staged`);
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }
}

/** `buf` with room for `more` bytes after `used` (grown by doubling). */
function room(buf: Buffer, used: number, more: number): Buffer {
  if (used + more <= buf.length) return buf;
  const bigger = Buffer.allocUnsafe(Math.max(used + more, buf.length * 2));
  buf.copy(bigger, 0, 0, used);
  return bigger;
}

/** Upload rows and the bulk paths of upload processing (COPY, set-based inserts). */
export class UploadsRepository {
  constructor(private readonly em: EntityManager) {}

  private pool(): Promise<pg.Pool> {
    return (this.em.getConnection() as PostgreSqlConnection).getNativeClient();
  }

  // ---- receiving -------------------------------------------------------------------------------

  async createReceiving(input: {
    projectId: number; userId: number; fileName: string; contentType: string | null;
    defaultPriority: number | null; defaultPriorityScore: string | null; clientBatchId: string | null;
  }): Promise<number> {
    const pool = await this.pool();
    const { rows } = await pool.query<{ id: string }>(
      `insert into uploads (project_id, file_name, content_type, status, default_priority, default_priority_score, client_batch_id, created_by_id, heartbeat_at)
       values ($1, $2, $3, 'receiving', $4, $5, $6, $7, now()) returning id`,
      [input.projectId, input.fileName, input.contentType, input.defaultPriority, input.defaultPriorityScore, input.clientBatchId, input.userId],
    );
    return Number(rows[0].id);
  }

  async appendChunk(uploadId: number, seq: number, data: Buffer): Promise<void> {
    const pool = await this.pool();
    await pool.query(
      `with c as (insert into upload_chunks (upload_id, seq, data) values ($1, $2, $3))
       update uploads set size_bytes = size_bytes + $4, heartbeat_at = now() where id = $1`,
      [uploadId, seq, data, data.length],
    );
  }

  /** Marks the file complete (inside the caller's transaction, which also enqueues the job). */
  async markQueued(em: EntityManager, uploadId: number, defaults: { defaultPriority: number | null; defaultPriorityScore: string | null; clientBatchId: string | null }) {
    await sql`update uploads set status = 'queued', default_priority = ${defaults.defaultPriority}, default_priority_score = ${defaults.defaultPriorityScore}::numeric,
      client_batch_id = ${defaults.clientBatchId}, heartbeat_at = now() where id = ${uploadId} and status = 'receiving'`.execute(em.getKysely());
  }

  async discard(uploadId: number): Promise<void> {
    const pool = await this.pool();
    await pool.query(`delete from uploads where id = $1 and status = 'receiving'`, [uploadId]);
  }

  // ---- reading ---------------------------------------------------------------------------------

  async find(projectId: number, uploadId: number): Promise<UploadRow | null> {
    const rows = await sql<UploadRow>`select ${UPLOAD_COLUMNS} from uploads u left join users cu on cu.id = u.created_by_id
      where u.project_id = ${projectId} and u.id = ${uploadId}`.execute(this.em.getKysely());
    return rows.rows[0] ?? null;
  }

  async history(projectId: number, page: number, size: number): Promise<{ rows: UploadRow[]; total: number }> {
    const db = this.em.getKysely();
    const [{ n }] = (await sql<{ n: number }>`select count(*)::int as n from uploads where project_id = ${projectId}`.execute(db)).rows;
    const rows = await sql<UploadRow>`select ${UPLOAD_COLUMNS} from uploads u left join users cu on cu.id = u.created_by_id
      where u.project_id = ${projectId} order by u.id desc limit ${size} offset ${(page - 1) * size}`.execute(db);
    return { rows: rows.rows, total: n };
  }

  async errors(uploadId: number, limit = MAX_ERROR_ROWS): Promise<UploadErrorRow[]> {
    const rows = await sql<UploadErrorRow>`select row_number as "rowNumber", field, message, raw from upload_errors
      where upload_id = ${uploadId} order by row_number, id limit ${limit}`.execute(this.em.getKysely());
    return rows.rows;
  }

  /** The first `limitEach` error rows of each upload, in one query (the history page's expandable rows). */
  async errorsOf(uploadIds: number[], limitEach: number): Promise<Map<number, UploadErrorRow[]>> {
    const byUpload = new Map<number, UploadErrorRow[]>();
    if (!uploadIds.length) return byUpload;
    const { rows } = await sql<UploadErrorRow & { uploadId: string }>`
      select u.id as "uploadId", e.row_number as "rowNumber", e.field, e.message, e.raw
      from unnest(${uploadIds}::bigint[]) u(id)
      cross join lateral (select * from upload_errors where upload_id = u.id order by row_number, id limit ${limitEach}) e
      order by u.id, e.row_number, e.id`.execute(this.em.getKysely());
    for (const { uploadId, ...row } of rows) {
      const list = byUpload.get(Number(uploadId)) ?? [];
      list.push(row);
      byUpload.set(Number(uploadId), list);
    }
    return byUpload;
  }

  /** The stored failed rows, chunk by chunk, in row order. */
  async *rejects(uploadId: number): AsyncGenerator<Buffer> {
    const pool = await this.pool();
    let after = -1;
    for (;;) {
      const { rows } = await pool.query<{ first_row: number; data: Buffer }>(
        'select first_row, data from upload_rejects where upload_id = $1 and first_row > $2 order by first_row limit 1',
        [uploadId, after],
      );
      if (rows.length === 0) return;
      after = rows[0].first_row;
      yield rows[0].data;
    }
  }

  /**
   * The stored file, chunk by chunk. Read with a binary COPY: a plain query would send each chunk
   * as hex text twice its size, decoded again here.
   */
  async *chunks(uploadId: number): AsyncGenerator<Buffer> {
    const pool = await this.pool();
    for (let seq = 0; ; seq++) {
      const client = await pool.connect();
      const parts: Buffer[] = [];
      try {
        const copy = client.query(copyTo(`copy (select data from upload_chunks where upload_id = ${Number(uploadId)} and seq = ${seq}) to stdout (format binary)`));
        const fields = new BinaryCopyFields();
        fields.on('data', (part: Buffer) => parts.push(part));
        await pipeline(copy, fields);
        client.release();
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
      if (parts.length === 0) return;
      yield parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
  }

  // ---- state changes from pages ----------------------------------------------------------------

  /** Cancels a queued upload at once; a processing one stops at its next batch. */
  async requestCancel(uploadId: number): Promise<UploadStatus | null> {
    const rows = await sql<{ status: UploadStatus }>`update uploads set
        cancel_requested = true,
        status = case when status = 'queued' then 'cancelled' else status end,
        finished_at = case when status = 'queued' then now() else finished_at end,
        error_message = case when status = 'queued' then 'Cancelled before processing started.' else error_message end
      where id = ${uploadId} and status in ('queued', 'processing') returning status`.execute(this.em.getKysely());
    if (rows.rows[0]?.status === 'cancelled') await sql`delete from upload_chunks where upload_id = ${uploadId}`.execute(this.em.getKysely());
    return rows.rows[0]?.status ?? null;
  }

  /**
   * Deletes an upload: its tasks without submitted or saved work are archived (one archive record),
   * the others stay and are counted. Returns the counts.
   */
  async deleteUpload(em: EntityManager, input: { projectId: number; uploadId: number; userId: number; reason: string }): Promise<{ archived: number; kept: number; archiveId: number | null }> {
    const db = em.getKysely();
    const locked = await sql<{ id: string }>`select id from uploads where id = ${input.uploadId} and project_id = ${input.projectId} and deleted_at is null
      and status not in ('receiving', 'queued', 'processing') for update`.execute(db);
    if (locked.rows.length === 0) return { archived: -1, kept: 0, archiveId: null };
    // the task list's Archive action: one Archive record, open assignments end, saved work stays
    const archives = new ArchivesRepository(em);
    let archiveId: number | null = await archives.open(input.projectId, input.userId, input.reason, false);
    const where = sql`t.project_id = ${input.projectId} and t.upload_id = ${input.uploadId} and t.archive_id is null
        and t.last_submitted_at is null and not exists (select 1 from answer_sets a where a.task_id = t.id and a.kind <> 'default')`;
    const n = (await new Workflow(em).applyToSelection(archiveTransition(archiveId, input.reason), where, { projectId: input.projectId, actorId: input.userId })).changed;
    await archives.addTasks(archiveId, n);
    if (await archives.dropIfEmpty(archiveId)) archiveId = null;
    const [{ kept }] = (await sql<{ kept: number }>`select count(*)::int as kept from tasks where upload_id = ${input.uploadId} and archive_id is null`.execute(db)).rows;
    const report = n === 0 && kept === 0 ? 'No tasks to archive.' : `${n} task${n === 1 ? '' : 's'} archived${archiveId ? ` (archive ${archiveId})` : ''}; ${kept} kept because they have submitted or saved work.`;
    await sql`update uploads set deleted_at = now(), deleted_by_id = ${input.userId}, delete_report = ${report} where id = ${input.uploadId}`.execute(db);
    await sql`delete from upload_chunks where upload_id = ${input.uploadId}`.execute(db);
    return { archived: n, kept, archiveId };
  }

  // ---- failures ----------------------------------------------------------------------------------

  async failKeepingFile(uploadId: number, message: string): Promise<void> {
    await sql`update uploads set status = 'failed', error_message = ${message}, finished_at = now()
              where id = ${uploadId} and status in ('queued', 'processing')`.execute(this.em.getKysely());
  }

  /** Back to the queue, when the failed upload's file is still stored; false otherwise. */
  async requeue(uploadId: number): Promise<boolean> {
    const { rows } = await sql`update uploads u set status = 'queued', error_message = null, finished_at = null
      where u.id = ${uploadId} and u.status = 'failed' and u.deleted_at is null
        and exists (select 1 from upload_chunks c where c.upload_id = u.id) returning u.id`.execute(this.em.getKysely());
    return rows.length > 0;
  }

  async dropFileOfFailed(uploadId: number): Promise<void> {
    await sql`delete from upload_chunks c using uploads u where u.id = c.upload_id and u.id = ${uploadId} and u.status = 'failed'`.execute(this.em.getKysely());
  }

  /** Receiving uploads whose request died: the file never arrived whole. */
  async failAbandoned(): Promise<number> {
    const rows = await sql`with gone as (
        update uploads set status = 'failed', finished_at = now(), error_message = 'The upload was interrupted before the whole file arrived. Upload it again.'
        where status = 'receiving' and coalesce(heartbeat_at, created_at) < now() - interval '10 minutes' returning id
      ) delete from upload_chunks c using gone where c.upload_id = gone.id`.execute(this.em.getKysely());
    return Number(rows.numAffectedRows ?? 0);
  }

  // ---- processing (one dedicated connection per job) ---------------------------------------------

  async openProcessing(uploadId: number): Promise<UploadProcessingSession> {
    const pool = await this.pool();
    const client = await pool.connect();
    try {
      // one processor per upload across every process; the lock dies with the connection
      await client.query('select pg_advisory_lock($1, $2)', [UPLOAD_LOCK, uploadId]);
      return new UploadProcessingSession(client, uploadId);
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  }

  async processingContext(projectId: number): Promise<{ inputSchema: unknown; outputSchema: unknown; stages: UploadStage[]; members: Map<string, UploadMember> }> {
    const db = this.em.getKysely();
    const project = (await sql<{ input_schema: unknown; output_schema: unknown }>`select input_schema, output_schema from projects where id = ${projectId}`.execute(db)).rows[0];
    const stages = (await sql<UploadStage>`select id::int as id, name, kind from stages where project_id = ${projectId} order by position`.execute(db)).rows;
    const memberRows = (await sql<{ email: string; user_id: number; stage_ids: number[] | null }>`
      select lower(u.email) as email, u.id::int as user_id,
             (select array_agg(s.stage_id::int) from project_member_stages s where s.project_member_id = m.id) as stage_ids
      from project_members m join users u on u.id = m.user_id
      where m.project_id = ${projectId} and u.active`.execute(db)).rows;
    const members = new Map<string, UploadMember>(memberRows.map((m) => [m.email, { userId: m.user_id, stageIds: m.stage_ids?.length ? new Set(m.stage_ids) : null }]));
    return { inputSchema: project.input_schema, outputSchema: project.output_schema, stages, members };
  }
}

/** The connection one job processes an upload on: it holds the upload's advisory lock throughout. */
export class UploadProcessingSession {
  private staged = false;

  constructor(private readonly client: pg.PoolClient, readonly uploadId: number) {}

  async close(): Promise<void> {
    try {
      await this.client.query('select pg_advisory_unlock($1, $2)', [UPLOAD_LOCK, this.uploadId]);
      if (this.staged) await this.client.query('drop table if exists pg_temp.upload_stage');
      this.client.release();
    } catch (err) {
      this.client.release(err as Error);
    }
  }

  async load(): Promise<{ status: UploadStatus; projectId: number; fileName: string; createdById: number | null; cancelRequested: boolean; deleted: boolean;
    resumeAfterRow: number; attempts: number; defaultPriority: number | null; defaultPriorityScore: string | null; clientBatchId: string | null;
    header: string[] | null; rowsProcessed: number; rowsSucceeded: number; rowsFailed: number } | null> {
    const { rows } = await this.client.query(
      `select status, project_id::int as "projectId", file_name as "fileName", created_by_id::int as "createdById", cancel_requested as "cancelRequested",
              deleted_at is not null as deleted, resume_after_row as "resumeAfterRow", attempts, default_priority as "defaultPriority",
              default_priority_score::text as "defaultPriorityScore", client_batch_id as "clientBatchId", header,
              rows_processed as "rowsProcessed", rows_succeeded as "rowsSucceeded", rows_failed as "rowsFailed"
         from uploads where id = $1`,
      [this.uploadId],
    );
    return rows[0] ?? null;
  }

  async start(): Promise<void> {
    await this.client.query(
      `update uploads set status = 'processing', attempts = attempts + 1, started_at = coalesce(started_at, now()), heartbeat_at = now() where id = $1`,
      [this.uploadId],
    );
  }

  async setFormat(format: string, header: string[] | null): Promise<void> {
    await this.client.query('update uploads set format = $2, header = $3 where id = $1', [this.uploadId, format, header === null ? null : JSON.stringify(header)]);
  }

  /** Upload-level notes (row 0): unknown columns and the like. Written once. */
  async addNotes(notes: Array<{ field: string | null; message: string }>): Promise<void> {
    if (notes.length === 0) return;
    await this.client.query(
      `insert into upload_errors (upload_id, row_number, field, message)
       select $1, 0, f, m from unnest($2::text[], $3::text[]) as x(f, m)
       where not exists (select 1 from upload_errors where upload_id = $1 and row_number = 0)`,
      [this.uploadId, notes.map((n) => n.field), notes.map((n) => n.message)],
    );
  }

  private async ensureStage(): Promise<void> {
    if (this.staged) return;
    await this.client.query(`create temp table if not exists upload_stage (
        row_number integer not null, name text not null, data jsonb not null, metadata jsonb not null, pre_assign jsonb not null,
        priority integer not null, priority_score numeric(10, 9), client_batch_id text, answers jsonb,
        assignee_id bigint, assignment_kind text
      ) on commit delete rows`);
    this.staged = true;
  }

  /**
   * One batch in one transaction: the new tasks (with their default answers and assignments), the rejected rows, the counters and the resume point. A crash before COMMIT
   * leaves nothing of the batch; after it, a retry starts after `lastRow`.
   */
  async writeBatch(input: {
    projectId: number; labelStageId: number; actorId: number | null; rejected: RejectedRow[]; lastRow: number; bytesRead: number;
    /** the good rows */
    staged: StagedRows;
    /** rows of the batch, including rejected and duplicates (for the counters) */
    rowCount: number;
    /** turns a duplicate row's staged source back into its re-uploadable line and its excerpt */
    lineOf: (source: string, error: string) => string;
    rawOf: (source: string) => string;
  }): Promise<BatchOutcome> {
    await this.ensureStage();
    const c = this.client;
    // a batch commits its tasks with the resume point: should a crash lose the last commits, the
    // retry redoes exactly those batches, so the commit need not wait for its WAL flush
    await c.query('begin; set local synchronous_commit = off');
    try {
      const duplicates = input.staged.count > 0 ? await this.insertTasks(input) : [];
      const succeeded = input.staged.count - duplicates.length;
      const rejected = [...input.rejected];
      for (const d of duplicates) {
        const message = `A task with this name ${d.message}`;
        rejected.push({ row: d.row, problems: [{ field: 'name', message }], raw: input.rawOf(d.source), line: input.lineOf(d.source, message) });
      }
      rejected.sort((a, b) => a.row - b.row);
      if (rejected.length > 0) await this.writeRejected(rejected);
      const failed = input.rowCount - succeeded;
      const update = await c.query<{ cancel_requested: boolean }>(
        `update uploads set rows_processed = rows_processed + $2, rows_succeeded = rows_succeeded + $3, rows_failed = rows_failed + $4,
                resume_after_row = $5, bytes_read = greatest(bytes_read, $6), heartbeat_at = now() where id = $1 returning cancel_requested`,
        [this.uploadId, input.rowCount, succeeded, failed, input.lastRow, input.bytesRead],
      );
      await c.query('commit');
      return { succeeded, duplicates, cancelRequested: update.rows[0]?.cancel_requested ?? false };
    } catch (err) {
      await c.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  /**
   * The batch's new tasks: the workflow's create transition over the staging table (no event row
   * per task: the history shows the creation from the task's upload, creator and created_at).
   * Returns the rows that became no task (duplicate names).
   */
  private async insertTasks(input: { projectId: number; labelStageId: number; actorId: number | null; staged: StagedRows }): Promise<Array<{ row: number; message: string; source: string }>> {
    // tasks declare no foreign keys to their project, stage, upload and creator (README, "Data
    // integrity"): those are the same for every row of the batch, so they are checked here once,
    // and the stage and project rows are locked `for key share` as a foreign key would, so that a
    // concurrent removal of the stage waits for this batch and then finds it used
    const parents = await this.client.query(CREATE_TASKS_PARENTS_SQL, [input.projectId, input.labelStageId, this.uploadId, input.actorId]);
    if (parents.rowCount !== 1) throw new Error(`Upload ${this.uploadId}: its project, Label stage or creator no longer exists`);
    await this.copyStage(input.staged);
    const result = await this.client.query<{ row_number: number; message: string }>(
      CREATE_TASKS_SQL,
      [input.projectId, input.labelStageId, this.uploadId, input.actorId],
    );
    return result.rows.map((r) => ({ row: r.row_number, message: r.message, source: input.staged.sourceOf(r.row_number) }));
  }

  private async copyStage(staged: StagedRows): Promise<void> {
    const stream = this.client.query(copyFrom(
      'copy upload_stage (row_number, name, data, metadata, pre_assign, priority, priority_score, client_batch_id, answers, assignee_id, assignment_kind) from stdin',
    ));
    await new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
      stream.end(staged.bytes());
    });
  }

  private async writeRejected(rejected: RejectedRow[]): Promise<void> {
    const c = this.client;
    const rows: number[] = [];
    const fields: Array<string | null> = [];
    const messages: string[] = [];
    const raws: string[] = [];
    for (const r of rejected) {
      for (const p of r.problems.slice(0, 5)) {
        rows.push(r.row);
        fields.push(p.field);
        messages.push(p.message.slice(0, 1000));
        raws.push(r.raw);
      }
    }
    // only the first MAX_ERROR_ROWS errors are kept; the counters stay exact
    await c.query(
      `insert into upload_errors (upload_id, row_number, field, message, raw)
       select $1, r, f, m, x from unnest($2::int[], $3::text[], $4::text[], $5::text[]) with ordinality as u(r, f, m, x, o)
       order by o
       limit greatest(0, $6 - (select count(*) from upload_errors where upload_id = $1 and row_number > 0))`,
      [this.uploadId, rows, fields, messages, raws, MAX_ERROR_ROWS],
    );
    const text = rejected.map((r) => r.line).filter((l) => l !== '').join('');
    if (text) {
      await c.query('insert into upload_rejects (upload_id, first_row, data) values ($1, $2, $3) on conflict do nothing', [this.uploadId, rejected[0].row, Buffer.from(text)]);
    }
  }

  /** Rows consumed without a batch (a fatal read error) are counted as failed. */
  async finish(status: UploadStatus, message: string | null, extraFailed = 0, rejected: RejectedRow[] = [], lastRow?: number): Promise<void> {
    const c = this.client;
    await c.query('begin');
    try {
      if (rejected.length) await this.writeRejected(rejected);
      await c.query(
        `update uploads set status = $2, error_message = $3, finished_at = now(), heartbeat_at = now(), bytes_read = size_bytes,
                rows_processed = rows_processed + $4, rows_failed = rows_failed + $4, resume_after_row = greatest(resume_after_row, coalesce($5, 0))
          where id = $1`,
        [this.uploadId, status, message, extraFailed, lastRow ?? null],
      );
      await c.query('delete from upload_chunks where upload_id = $1', [this.uploadId]);
      await c.query('commit');
    } catch (err) {
      await c.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Leaves a large upload's tasks ready for the list: VACUUM sets the visibility map of the new
   * pages (the list's index-only scans then skip the heap: without it each page of the list reads
   * ~10,000 heap pages until autovacuum comes, 120–200 ms instead of ~10 ms), summarizes the new
   * BRIN ranges of tasks_upload and merges the trigram index's pending list; ANALYZE gives the
   * planner the new rows. It runs outside a transaction, before the upload is marked finished, so
   * "completed" means "listed fast". Pages already all-visible are skipped: the cost is the new rows.
   */
  async settle(): Promise<number> {
    const started = performance.now();
    await this.client.query('vacuum (analyze) tasks');
    return performance.now() - started;
  }

  /** The final status from the counters. */
  async counters(): Promise<{ processed: number; succeeded: number; failed: number }> {
    const { rows } = await this.client.query(
      'select rows_processed as processed, rows_succeeded as succeeded, rows_failed as failed from uploads where id = $1',
      [this.uploadId],
    );
    return rows[0];
  }
}
