import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { User } from '../users/user.entity.ts';

export const Export = defineEntity({
  name: 'Export',
  tableName: 'exports',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    format: p.enum(['csv', 'json', 'jsonl'] as const),
    selection: p.json<Record<string, unknown>>().onCreate(() => ({})),
    status: p.enum(['queued', 'running', 'completed', 'failed', 'expired'] as const).default('queued'),
    rowsTotal: p.integer().nullable(),
    rowsWritten: p.integer().default(0),
    sizeBytes: p.bigint('number').default(0),
    errorMessage: p.text().nullable(),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    finishedAt: p.datetime().nullable(),
  },
});
export type IExport = InferEntity<typeof Export>;
