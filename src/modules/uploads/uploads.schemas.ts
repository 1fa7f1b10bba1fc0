import type { FastifyRequest } from 'fastify';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import { Type } from 'typebox';
import { badRequest, unprocessable } from '../../lib/errors.ts';
import { parseForm, type FieldErrors } from '../../lib/form.ts';
import { parsePriorityScore, SCORE_RULE } from '../../lib/priority.ts';
import type { UploadDefaults } from './uploads.service.ts';
import type { UploadErrorRow, UploadRow } from './uploads.repository.ts';

export const HistoryQuery = Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })) });
export const HISTORY_PAGE_SIZE = 20;

/** The options sent with a file (multipart fields), all optional. */
export const UploadOptionsForm = Type.Object({
  defaultPriority: Type.Optional(Type.Integer({
    title: 'Default priority', minimum: -2147483648, maximum: 2147483647,
    errorMessage: 'Enter a whole number from -2147483648 to 2147483647 (lower is served first)',
  })),
  defaultPriorityScore: Type.Optional(Type.String({ title: 'Default priority score', maxLength: 20 })),
  clientBatchId: Type.Optional(Type.String({ title: 'Client batch ID', maxLength: 200, errorMessage: 'Use at most 200 characters' })),
});

export function parseUploadOptions(fields: Record<string, string>): { ok: true; value: UploadDefaults } | { ok: false; errors: FieldErrors } {
  const form = parseForm(UploadOptionsForm, fields);
  const errors: FieldErrors = form.ok ? {} : { ...form.errors };
  const priorityText = (fields.defaultPriority ?? '').trim();
  // the converter would truncate 1.5 to 1: whole numbers only, as written
  if (priorityText !== '' && !/^[+-]?\d+$/.test(priorityText)) errors.defaultPriority = 'Enter a whole number from -2147483648 to 2147483647 (lower is served first)';
  const scoreText = (fields.defaultPriorityScore ?? '').trim();
  const score = scoreText === '' ? null : parsePriorityScore(scoreText);
  if (scoreText !== '' && score === null) errors.defaultPriorityScore = `Enter ${SCORE_RULE} (higher is served first)`;
  if (!form.ok || Object.keys(errors).length) return { ok: false, errors };
  return {
    ok: true,
    value: { defaultPriority: form.value.defaultPriority ?? null, defaultPriorityScore: score, clientBatchId: form.value.clientBatchId || null },
  };
}

/** The multipart/form-data body of `POST …/uploads`, as the OpenAPI document shows it (UploadParts reads it). */
export const UploadRequest = Type.Object({
  file: Type.Unsafe<Blob>({ type: 'string', format: 'binary', description: 'The file: CSV, JSON (an array), JSON Lines or RedBrick items JSON' }),
  defaultPriority: Type.Optional(Type.Integer({ minimum: -2147483648, maximum: 2147483647, description: 'Priority of rows that give none (lower is served first)' })),
  defaultPriorityScore: Type.Optional(Type.String({ maxLength: 20, description: `Priority score of rows that give none: ${SCORE_RULE} (higher is served first)` })),
  clientBatchId: Type.Optional(Type.String({ maxLength: 200, description: 'Client batch ID of rows that give none' })),
}, { title: 'UploadRequest' });

type Part = MultipartFile | MultipartValue;

/**
 * An error while reading a multipart body. Limits come with their status (413); anything else
 * the parser raises (no boundary, a boundary that never comes, a cut-off body) is the client's
 * request: 400 with a clear message, never a 500.
 */
export function asMultipartError(err: unknown): unknown {
  if ((err as { statusCode?: number }).statusCode) return err;
  return badRequest('The request is not readable multipart/form-data (a missing or wrong boundary, or a cut-off body). Send the file again.');
}

/**
 * Reads a multipart upload part by part (the file is never buffered). A browser form sends its
 * CSRF token as the first field: `peekCsrf` reads it before the CSRF check runs.
 */
export class UploadParts {
  private readonly iterator: AsyncIterator<Part>;
  private readonly buffered: Part[] = [];
  readonly fields: Record<string, string> = {};

  constructor(request: FastifyRequest) {
    this.iterator = request.parts()[Symbol.asyncIterator]() as AsyncIterator<Part>;
  }

  private async next(): Promise<Part | null> {
    if (this.buffered.length) return this.buffered.shift()!;
    try {
      const next = await this.iterator.next();
      return next.done ? null : next.value;
    } catch (err) {
      throw asMultipartError(err);
    }
  }

  /** The `_csrf` field when it comes first; any other part is kept for later. */
  async peekCsrf(): Promise<string | undefined> {
    const part = await this.next();
    if (!part) return undefined;
    if (part.type === 'field' && part.fieldname === '_csrf') return String(part.value);
    this.buffered.push(part);
    return undefined;
  }

  /** Collects fields up to the file part; null when no (non-empty) file part comes. */
  async nextFile(): Promise<MultipartFile | null> {
    for (;;) {
      const part = await this.next();
      if (!part) return null;
      if (part.type === 'file') {
        if (part.fieldname === 'file' && part.filename !== '') return part;
        part.file.resume(); // an empty file input or an unexpected file: skipped
        continue;
      }
      if (part.fieldname !== '_csrf') this.fields[part.fieldname] = String(part.value ?? '').slice(0, 1000);
    }
  }

  /** Reads the remaining parts (fields sent after the file). */
  async rest(): Promise<void> {
    const extra = await this.nextFile();
    if (extra) {
      extra.file.resume();
      throw unprocessable('Send one file per upload.');
    }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    uploadParts?: UploadParts;
  }
}

export const UploadBody = Type.Object({
  id: Type.Integer(),
  projectId: Type.Integer(),
  fileName: Type.String(),
  format: Type.Union([Type.String({ enum: ['csv', 'json', 'jsonl', 'items'] }), Type.Null()], { description: 'Known once processing has read the file; null while queued' }),
  sizeBytes: Type.Integer(),
  status: Type.String({ enum: ['receiving', 'queued', 'processing', 'completed', 'completed_with_errors', 'failed', 'cancelled'] }),
  defaultPriority: Type.Union([Type.Integer(), Type.Null()]),
  defaultPriorityScore: Type.Union([Type.String(), Type.Null()]),
  clientBatchId: Type.Union([Type.String(), Type.Null()]),
  rows: Type.Object({ processed: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer() }),
  progress: Type.Number({ description: 'Share of the file read, 0–1' }),
  errorMessage: Type.Union([Type.String(), Type.Null()]),
  errorCount: Type.Integer({ description: 'Error rows kept (at most 1,000)' }),
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Type.Union([Type.Object({ id: Type.Integer(), name: Type.String() }), Type.Null()]),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  deletedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  deleteReport: Type.Union([Type.String(), Type.Null()]),
}, { title: 'Upload' });

export const UploadErrorBody = Type.Object({
  row: Type.Integer({ description: '0 = the file as a whole (e.g. an unknown column)' }),
  field: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
  raw: Type.Union([Type.String(), Type.Null()]),
}, { title: 'UploadError' });

export function progressOf(u: UploadRow): number {
  if (['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(u.status)) return 1;
  if (u.status !== 'processing' || u.sizeBytes === 0) return 0;
  return Math.min(0.99, u.bytesRead / u.sizeBytes);
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);

export const toUploadBody = (u: UploadRow) => ({
  id: u.id,
  projectId: u.projectId,
  fileName: u.fileName,
  format: u.format,
  sizeBytes: u.sizeBytes,
  status: u.status,
  defaultPriority: u.defaultPriority,
  defaultPriorityScore: u.defaultPriorityScore,
  clientBatchId: u.clientBatchId,
  rows: { processed: u.rowsProcessed, succeeded: u.rowsSucceeded, failed: u.rowsFailed },
  progress: progressOf(u),
  errorMessage: u.errorMessage,
  errorCount: u.errorCount,
  createdAt: iso(u.createdAt)!,
  createdBy: u.createdById ? { id: u.createdById, name: u.creatorName ?? '' } : null,
  startedAt: iso(u.startedAt),
  finishedAt: iso(u.finishedAt),
  deletedAt: iso(u.deletedAt),
  deleteReport: u.deleteReport,
});

export const toErrorBody = (e: UploadErrorRow) => ({ row: e.rowNumber, field: e.field, message: e.message, raw: e.raw });
