import { csvSafe } from '../../lib/csv-cells.ts';
import { bytes } from '../../lib/format.ts';
import { basename } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import type { PgBoss } from 'pg-boss';
import { stringify } from 'csv-stringify/sync';
import { conflict, HttpError, notFound, unprocessable } from '../../lib/errors.ts';
import { paged, type Paged } from '../../lib/pagination.ts';
import { enqueueInTransaction, interruptedIds } from '../../lib/job-queue.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import type { InputField, OutputField } from '../projects/project.entity.ts';
import type { IUser } from '../users/user.entity.ts';
import { FileProblem, openFile, type SourceRow } from './upload-formats.ts';
import { RowValidator, valueProblem } from './upload-rows.ts';
import { MAX_ERROR_ROWS, StagedRows, UploadsRepository, type RejectedRow, type UploadRow } from './uploads.repository.ts';

export const PROCESS_UPLOAD_JOB = 'process-upload';
export const SWEEP_UPLOADS_JOB = 'sweep-uploads';
/** Rows per batch (one transaction, one COPY). */
export const BATCH_ROWS = 5000;
/** The row loop lets I/O callbacks run every this many rows (see processNow). */
const YIELD_ROWS = 200;
/** An upload that created at least this many tasks vacuums and analyzes `tasks` before it finishes. */
export const SETTLE_ROWS = 10_000;
/** Bytes per stored chunk of the file. */
export const CHUNK_BYTES = 2 * 1024 * 1024;
const RAW_EXCERPT = 300;

export const RUNNING_STATUSES = ['receiving', 'queued', 'processing'] as const;

export interface UploadDefaults {
  defaultPriority: number | null;
  defaultPriorityScore: string | null;
  clientBatchId: string | null;
}

/** A file part being received: its bytes and whether the size limit cut it. */
export interface IncomingFile {
  fileName: string;
  contentType: string | null;
  stream: AsyncIterable<Buffer> & { truncated?: boolean };
}


export const tooLarge = (maxBytes: number) =>
  new HttpError(413, 'too_large', `The file is larger than the upload limit of ${bytes(maxBytes)}. Split it into smaller files (or raise UPLOAD_MAX_BYTES).`);

function cleanFileName(name: string | undefined): string {
  const base = basename(String(name ?? '').replace(/\\/g, '/')).replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return (base || 'upload').slice(0, 255);
}

export class UploadsService {
  readonly repo: UploadsRepository;

  constructor(private readonly em: EntityManager) {
    this.repo = new UploadsRepository(em);
  }

  // ---- receiving -------------------------------------------------------------------------------

  /**
   * Streams the file into PostgreSQL chunk by chunk (never whole in memory), then marks the upload
   * queued and enqueues its job in one transaction. On any failure the partial upload is removed.
   */
  async receive(access: ProjectAccess, user: IUser, file: IncomingFile, defaults: () => UploadDefaults, boss: PgBoss, maxBytes: number, afterFile: () => Promise<void>): Promise<UploadRow> {
    access.require('manager');
    const initial = defaults();
    const uploadId = await this.repo.createReceiving({
      projectId: access.project.id, userId: user.id, fileName: cleanFileName(file.fileName), contentType: file.contentType?.slice(0, 200) ?? null, ...initial,
    });
    try {
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      let seq = 0;
      for await (const chunk of file.stream) {
        if (file.stream.truncated) throw tooLarge(maxBytes);
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= CHUNK_BYTES) {
          await this.repo.appendChunk(uploadId, seq++, Buffer.concat(pending));
          pending = [];
          pendingBytes = 0;
        }
      }
      if (file.stream.truncated) throw tooLarge(maxBytes);
      if (pendingBytes > 0) await this.repo.appendChunk(uploadId, seq++, Buffer.concat(pending));
      await afterFile(); // fields sent after the file
      const final = defaults();
      await this.em.transactional(async (em) => {
        await this.repo.markQueued(em, uploadId, final);
        await enqueueInTransaction(em, boss, PROCESS_UPLOAD_JOB, { uploadId });
      });
    } catch (err) {
      await this.repo.discard(uploadId).catch(() => undefined);
      throw err;
    }
    return (await this.repo.find(access.project.id, uploadId))!;
  }

  // ---- reading ---------------------------------------------------------------------------------

  async get(access: ProjectAccess, uploadId: number): Promise<UploadRow> {
    if (!access.canManageTasks || !Number.isSafeInteger(uploadId)) throw notFound('No such upload');
    const upload = await this.repo.find(access.project.id, uploadId);
    if (!upload) throw notFound('No such upload');
    return upload;
  }

  /** The running uploads among `uploads` whose job was interrupted and waits to resume. */
  interrupted(uploads: UploadRow[]): Promise<Set<number>> {
    return interruptedIds(this.em, PROCESS_UPLOAD_JOB, 'uploadId', uploads.filter((u) => u.status === 'queued' || u.status === 'processing').map((u) => u.id));
  }

  async history(access: ProjectAccess, page: number, size: number): Promise<Paged<UploadRow>> {
    access.require('manager');
    const { rows, total } = await this.repo.history(access.project.id, page, size);
    return paged(rows, total, page, size);
  }

  errors(upload: UploadRow, limit = MAX_ERROR_ROWS) {
    return this.repo.errors(upload.id, limit);
  }

  /** The first error rows of several uploads at once, by upload id. */
  errorsOf(uploads: UploadRow[], limitEach: number) {
    return this.repo.errorsOf(uploads.map((u) => u.id), limitEach);
  }

  /** The failed rows as a re-uploadable file (CSV with an `error` column, or JSON Lines with an `error` key). */
  async *failedRows(upload: UploadRow): AsyncGenerator<Buffer> {
    if (upload.format === 'csv' || upload.format === null) {
      yield Buffer.from(stringify([[...(upload.header ?? []).filter((h) => h !== 'error'), 'error'].map(csvSafe)]));
    }
    yield* this.repo.rejects(upload.id);
  }

  // ---- changes ---------------------------------------------------------------------------------

  async cancel(access: ProjectAccess, uploadId: number): Promise<UploadRow> {
    const upload = await this.get(access, uploadId);
    if (!['queued', 'processing'].includes(upload.status)) throw conflict(`This upload is ${upload.status.replace(/_/g, ' ')}: only queued or running uploads can be cancelled.`);
    await this.repo.requestCancel(upload.id);
    return (await this.repo.find(access.project.id, upload.id))!;
  }

  /** Admins only: archives the upload's tasks without submitted or saved work; reports the rest. */
  async delete(access: ProjectAccess, user: IUser, uploadId: number): Promise<{ upload: UploadRow; archived: number; kept: number; archiveId: number | null }> {
    access.require('admin');
    const upload = await this.get(access, uploadId);
    if (upload.deletedAt) throw conflict('This upload has already been deleted.');
    if ((RUNNING_STATUSES as readonly string[]).includes(upload.status)) throw conflict('This upload is still running: cancel it and wait until it stops, then delete it.');
    const result = await this.em.transactional((em) =>
      this.repo.deleteUpload(em, { projectId: access.project.id, uploadId: upload.id, userId: user.id, reason: `Upload ${upload.id} (${upload.fileName}) deleted` }),
    );
    if (result.archived < 0) throw conflict('This upload changed meanwhile. Reload the page and try again.');
    return { upload: (await this.repo.find(access.project.id, upload.id))!, ...result };
  }

  // ---- processing (the job) --------------------------------------------------------------------

  /** Re-enqueues uploads that should be running but that no worker holds (after a crash). */
  /** Receiving uploads whose request died (the file never arrived whole) are failed. A killed job needs no sweep: its heartbeat stops and pg-boss retries it. */
  async failAbandoned(log: FastifyBaseLogger): Promise<void> {
    const failed = await this.repo.failAbandoned();
    if (failed) log.info({ failed }, 'failed uploads whose request died');
  }

  /**
   * The upload used up its attempts (see the failure policy): it is marked failed and the rows read
   * so far stay. The file is kept, so an admin can retry it (it resumes after its last batch).
   */
  async fail(uploadId: number, reason: string): Promise<void> {
    await this.repo.failKeepingFile(uploadId, `${reason} The rows read so far are kept.`);
  }

  /** An admin retries a failed upload: it resumes after its last committed batch, if its file is still stored. */
  async reopen(uploadId: number): Promise<{ refused: string } | void> {
    if (!(await this.repo.requeue(uploadId))) return { refused: 'The file of this upload is no longer stored: upload the rest of it again.' };
  }

  /** An admin drops a failed upload's dead letter: its stored file goes. */
  async dropFile(uploadId: number): Promise<void> {
    await this.repo.dropFileOfFailed(uploadId);
  }

  /**
   * Processes one upload: idempotent and resumable. The upload's advisory lock makes one worker at
   * a time; every batch commits its tasks together with the counters and the resume point, so a
   * retry after a crash continues exactly where the last committed batch ended.
   */
  async processNow(uploadId: number, log: FastifyBaseLogger, signal?: AbortSignal): Promise<void> {
    const session = await this.repo.openProcessing(uploadId);
    try {
      const upload = await session.load();
      if (!upload || upload.deleted || !['queued', 'processing'].includes(upload.status)) return;
      if (upload.cancelRequested) return await session.finish('cancelled', 'Cancelled before processing started.');
      await session.start();
      const context = await this.repo.processingContext(upload.projectId);
      const label = context.stages.find((s) => s.kind === 'label') ?? context.stages[0];
      const validator = new RowValidator({
        uploadId,
        inputFields: context.inputSchema as InputField[],
        outputFields: context.outputSchema as OutputField[],
        stages: context.stages,
        members: context.members,
        defaults: { priority: upload.defaultPriority, priorityScore: upload.defaultPriorityScore, clientBatchId: upload.clientBatchId },
      });

      let bytesRead = 0;
      async function* counted(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          bytesRead += chunk.length;
          yield chunk;
        }
      }
      let opened;
      try {
        opened = await openFile(counted(this.repo.chunks(uploadId)), upload.fileName);
      } catch (err) {
        if (err instanceof FileProblem) return await session.finish('failed', err.message);
        throw err;
      }
      const header = opened.header ?? null;
      const fresh = upload.resumeAfterRow === 0 && upload.rowsProcessed === 0;
      if (opened.format === 'csv') {
        const { missing, unknown } = validator.checkHeader(header!);
        if (missing.length) {
          const list = missing.map((m) => `“${m}”`).join(', ');
          await session.setFormat('csv', header);
          return await session.finish('failed', `The required input column${missing.length > 1 ? 's' : ''} ${list} ${missing.length > 1 ? 'are' : 'is'} missing from the header. Add ${missing.length > 1 ? 'them' : 'it'} and upload the file again.`);
        }
        if (fresh) {
          await session.setFormat('csv', header);
          await session.addNotes(unknown.map((u) => ({ field: u, message: `Unknown column “${u}”: ignored (not an input of this project nor a reserved column)` })));
        }
      }

      const lineOf = (source: SourceRow, error: string): string => {
        if (source.fields) return stringify([[...source.fields, error].map(csvSafe)]);
        // a row rejected for its nesting would overflow JSON.stringify: it comes back as its text
        if (source.object && typeof source.object === 'object' && !Array.isArray(source.object) && !valueProblem(source.object)) {
          return `${JSON.stringify({ ...(source.object as Record<string, unknown>), error })}\n`;
        }
        return `${JSON.stringify({ error, raw: (source.text ?? '').slice(0, 100_000) })}\n`;
      };
      const rawOf = (source: SourceRow): string => {
        const text = source.fields ? stringify([source.fields]).replace(/\r?\n$/, '') : source.text ?? '';
        return text.length > RAW_EXCERPT ? `${text.slice(0, RAW_EXCERPT)}…` : text;
      };
      const reject = (source: SourceRow, problems: RejectedRow['problems']): RejectedRow => ({
        row: source.row, problems, raw: rawOf(source), line: lineOf(source, problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; ')),
      });
      // a good row's source travels with it through the staging table (a duplicate name is only
      // known there) as JSON text: the CSV fields, or the JSON element's own text
      const staged = (source: SourceRow): string => (source.fields ? JSON.stringify(source.fields) : source.text ?? 'null');
      const unstaged = (text: string): SourceRow => (opened.format === 'csv' ? { row: 0, fields: JSON.parse(text) } : { row: 0, object: JSON.parse(text), text });

      let good = new StagedRows();
      let rejected: RejectedRow[] = [];
      let rowCount = 0;
      let lastRow = upload.resumeAfterRow;
      let pending: Promise<{ cancelRequested: boolean }> | null = null;
      let fatal: { row: number; message: string } | null = null;
      let formatSet = !fresh || opened.format === 'csv';
      let cancelled = false;

      const flush = async () => {
        if (pending) {
          const previous = await pending;
          pending = null;
          if (previous.cancelRequested) cancelled = true;
        }
        if (cancelled || rowCount === 0) return;
        const write = session.writeBatch({
          projectId: upload.projectId, labelStageId: label.id, actorId: upload.createdById, staged: good, rejected, lastRow, rowCount, bytesRead,
          lineOf: (source, error) => lineOf(unstaged(source), error),
          rawOf: (source) => rawOf(unstaged(source)),
        });
        write.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
        pending = write;
        good = new StagedRows();
        rejected = [];
        rowCount = 0;
      };

      let sinceYield = 0;
      try {
      for await (const source of opened.rows) {
        // the rows arrive as microtasks, which never let the event loop read a socket: without a
        // pause the previous batch's statements would wait for this loop to need more bytes (the
        // parse and the database would take turns instead of running side by side)
        if (++sinceYield === YIELD_ROWS) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (source.row <= upload.resumeAfterRow && !source.error?.fatal) continue;
        if (!formatSet) {
          const o = source.object as Record<string, unknown> | undefined;
          const isItem = !!o && typeof o === 'object' && (Array.isArray(o.series) || Array.isArray(o.items));
          await session.setFormat(isItem ? 'items' : opened.format, null);
          formatSet = true;
        }
        rowCount++;
        lastRow = Math.max(lastRow, source.row);
        if (source.error) {
          rejected.push(reject(source, [{ field: null, message: source.error.message }]));
          if (source.error.fatal) {
            fatal = { row: source.row, message: source.error.message };
            break;
          }
        } else {
          const result = opened.format === 'csv' ? validator.csvRow(source, header!) : validator.jsonRow(source);
          if (result.ok) good.add(result.task, staged(source));
          else rejected.push(reject(source, result.problems));
        }
        if (rowCount >= BATCH_ROWS) {
          await flush();
          if (cancelled) break;
          if (signal?.aborted) throw new Error('Upload processing interrupted by shutdown; it resumes on the next run');
        }
      }
      } catch (err) {
        if (!(err instanceof FileProblem)) throw err;
        if (pending) await pending;
        return await session.finish('failed', err.message);
      }
      if (!cancelled) await flush();
      if (pending) {
        const last = await (pending as Promise<{ cancelRequested: boolean }>);
        if (last.cancelRequested) cancelled = true;
      }
      if (validator.unknownKeys.size) {
        await session.addNotes([...validator.unknownKeys].map((k) => ({ field: k, message: `Unknown key “${k}”: ignored (not an input of this project nor a reserved key)` })));
      }

      const counters = await session.counters();
      if (counters.succeeded >= SETTLE_ROWS) {
        const ms = await session.settle();
        log.info({ uploadId, tasks: counters.succeeded, ms: Math.round(ms) }, 'upload: tasks vacuumed and analyzed');
      }
      if (cancelled) {
        return await session.finish('cancelled', `Cancelled after ${counters.processed.toLocaleString('en-US')} rows. The ${counters.succeeded.toLocaleString('en-US')} tasks created before stay; delete the upload to archive them.`);
      }
      if (fatal && counters.succeeded === 0 && counters.processed <= 1) {
        return await session.finish('failed', `The file cannot be read: ${fatal.message.replace(/; the rest of the file could not be read$/, '')} (row ${fatal.row}).`);
      }
      if (counters.processed === 0) {
        return await session.finish('failed', opened.format === 'csv' ? 'The file has a header row but no tasks.' : 'The file contains no tasks.');
      }
      if (counters.failed > 0) {
        const message = fatal ? `Row ${fatal.row}: ${fatal.message}.` : `${counters.failed.toLocaleString('en-US')} of ${counters.processed.toLocaleString('en-US')} rows were rejected.`;
        return await session.finish('completed_with_errors', message);
      }
      await session.finish('completed', null);
      log.info({ uploadId, rows: counters.processed }, 'upload processed');
    } finally {
      await session.close();
    }
  }
}
