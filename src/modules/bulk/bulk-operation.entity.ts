import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { User } from '../users/user.entity.ts';

/** A bulk action large enough to run as a job; tracks progress for its status widget. */
export const BulkOperation = defineEntity({
  name: 'BulkOperation',
  tableName: 'bulk_operations',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    action: p.text(),
    params: p.json<Record<string, unknown>>().onCreate(() => ({})),
    selection: p.json<Record<string, unknown>>().onCreate(() => ({})),
    status: p.enum(['queued', 'running', 'completed', 'failed'] as const).default('queued'),
    total: p.integer().default(0),
    processed: p.integer().default(0),
    changed: p.integer().default(0),
    // resume_after and lane_ends (where each lane resumes and ends) are read and written by BulkRepository only
    skipped: p.json<Record<string, number>>().onCreate(() => ({})),
    errorMessage: p.text().nullable(),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    finishedAt: p.datetime().nullable(),
  },
});
export type IBulkOperation = InferEntity<typeof BulkOperation>;
