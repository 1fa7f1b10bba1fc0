import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Archive } from '../archives/archive.entity.ts';
import { Project } from '../projects/project.entity.ts';
import { Stage } from '../stages/stage.entity.ts';
import { Upload } from '../uploads/upload.entity.ts';
import { User } from '../users/user.entity.ts';

import { ASSIGNMENT_KINDS, OPEN_ASSIGNMENT_STATUSES, TASK_STATES } from '../workflow/task-states.ts';

export { ASSIGNMENT_KINDS, OPEN_ASSIGNMENT_STATUSES, TASK_STATES };
export type { AssignmentKind, TaskState } from '../workflow/task-states.ts';

/**
 * A unit of work. The open assignment of the current stage is mirrored here (assignee,
 * status, kind, lease) so that the allocation pool and the task list need no join.
 */
export const Task = defineEntity({
  name: 'Task',
  tableName: 'tasks',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    name: p.text(),
    data: p.json<Record<string, unknown>>().onCreate(() => ({})),
    metadata: p.json<Record<string, string>>().onCreate(() => ({})),
    preAssign: p.json<Record<string, number>>().onCreate(() => ({})),
    state: p.enum(TASK_STATES).default('new'),
    stage: () => p.manyToOne(Stage),
    priority: p.integer().default(0),
    priorityScore: p.decimal('string').precision(10).scale(9).nullable(),
    clientBatchId: p.text().nullable(),
    held: p.boolean().default(false),
    hasOpenIssue: p.boolean().default(false),
    assignmentId: p.bigint('number').nullable(),
    assignee: () => p.manyToOne(User).nullable().deleteRule('set null'),
    assignmentStatus: p.enum(OPEN_ASSIGNMENT_STATUSES).nullable(),
    assignmentKind: p.enum(ASSIGNMENT_KINDS).nullable(),
    leaseExpiresAt: p.datetime().nullable(),
    deliveryStatus: p.enum(['pending', 'delivering', 'delivered', 'failed'] as const).nullable(),
    upload: () => p.manyToOne(Upload).nullable().deleteRule('set null'),
    archive: () => p.manyToOne(Archive).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    lastSubmittedAt: p.datetime().nullable(),
    lastSubmittedBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    lastActivityAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ITask = InferEntity<typeof Task>;
