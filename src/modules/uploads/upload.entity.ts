import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { User } from '../users/user.entity.ts';

export const UPLOAD_STATUSES = ['receiving', 'queued', 'processing', 'completed', 'completed_with_errors', 'failed', 'cancelled'] as const;
export type UploadStatus = (typeof UPLOAD_STATUSES)[number];

export const Upload = defineEntity({
  name: 'Upload',
  tableName: 'uploads',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    fileName: p.text(),
    contentType: p.text().nullable(),
    format: p.enum(['csv', 'json', 'jsonl', 'items'] as const).nullable(),
    sizeBytes: p.bigint('number').default(0),
    status: p.enum(UPLOAD_STATUSES).default('queued'),
    defaultPriority: p.integer().nullable(),
    defaultPriorityScore: p.decimal('string').precision(10).scale(9).nullable(),
    clientBatchId: p.text().nullable(),
    rowsProcessed: p.integer().default(0),
    rowsSucceeded: p.integer().default(0),
    rowsFailed: p.integer().default(0),
    resumeAfterRow: p.integer().default(0),
    errorMessage: p.text().nullable(),
    cancelRequested: p.boolean().default(false),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    startedAt: p.datetime().nullable(),
    finishedAt: p.datetime().nullable(),
    deletedAt: p.datetime().nullable(),
    header: p.json<string[]>().nullable(),
    attempts: p.integer().default(0),
    bytesRead: p.bigint('number').default(0),
    heartbeatAt: p.datetime().nullable(),
    deleteReport: p.text().nullable(),
    deletedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
  },
});
export type IUpload = InferEntity<typeof Upload>;

export const UploadError = defineEntity({
  name: 'UploadError',
  tableName: 'upload_errors',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    upload: () => p.manyToOne(Upload).deleteRule('cascade'),
    rowNumber: p.integer(),
    field: p.text().nullable(),
    message: p.text(),
    raw: p.text().nullable(),
  },
});
export type IUploadError = InferEntity<typeof UploadError>;
