import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { User } from '../users/user.entity.ts';

export const Archive = defineEntity({
  name: 'Archive',
  tableName: 'archives',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    /** Empty for automatic archiving (shown as N/A). */
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    reason: p.text().default(''),
    taskCount: p.integer().default(0),
    automatic: p.boolean().default(false),
    /** the run of the nightly job that made an automatic archive (a resumed run reuses its record) */
    runKey: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    restoredAt: p.datetime().nullable(),
    restoredBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
  },
});
export type IArchive = InferEntity<typeof Archive>;
