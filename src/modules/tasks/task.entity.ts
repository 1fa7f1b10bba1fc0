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
 *
 * No relation of a task has a declared foreign key (a key costs a trigger per inserted row; the rows
 * it points at are never deleted, writers check the constant references once per statement): see
 * README, "Data integrity".
 * The indexes are in the initial migration, each with the query it serves.
 */
export const Task = defineEntity({
  name: 'Task',
  tableName: 'tasks',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).createForeignKeyConstraint(false),
    name: p.text(),
    data: p.json<Record<string, unknown>>().onCreate(() => ({})),
    metadata: p.json<Record<string, string>>().onCreate(() => ({})),
    preAssign: p.json<Record<string, number>>().onCreate(() => ({})),
    state: p.enum(TASK_STATES).default('new'),
    stage: () => p.manyToOne(Stage).createForeignKeyConstraint(false),
    priority: p.integer().default(0),
    priorityScore: p.decimal('string').precision(10).scale(9).nullable(),
    clientBatchId: p.text().nullable(),
    held: p.boolean().default(false),
    hasOpenIssue: p.boolean().default(false),
    assignmentId: p.bigint('number').nullable(),
    assignee: () => p.manyToOne(User).nullable().createForeignKeyConstraint(false),
    assignmentStatus: p.enum(OPEN_ASSIGNMENT_STATUSES).nullable(),
    assignmentKind: p.enum(ASSIGNMENT_KINDS).nullable(),
    leaseExpiresAt: p.datetime().nullable(),
    deliveryStatus: p.enum(['pending', 'delivering', 'delivered', 'failed'] as const).nullable(),
    upload: () => p.manyToOne(Upload).nullable().createForeignKeyConstraint(false),
    archive: () => p.manyToOne(Archive).nullable().createForeignKeyConstraint(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    createdBy: () => p.manyToOne(User).nullable().createForeignKeyConstraint(false),
    lastSubmittedAt: p.datetime().nullable(),
    lastSubmittedBy: () => p.manyToOne(User).nullable().createForeignKeyConstraint(false),
    lastActivityAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ITask = InferEntity<typeof Task>;
