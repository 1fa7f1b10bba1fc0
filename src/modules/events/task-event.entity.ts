import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { Task } from '../tasks/task.entity.ts';
import { User } from '../users/user.entity.ts';

/** One line of a task's history: who did what, when, with the values before and after. */
export const TaskEvent = defineEntity({
  name: 'TaskEvent',
  tableName: 'task_events',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    // no declared foreign keys (one event per task of a bulk action): see README, "Data integrity"
    task: () => p.manyToOne(Task).createForeignKeyConstraint(false),
    project: () => p.manyToOne(Project).createForeignKeyConstraint(false),
    /** Empty for system actions. */
    actor: () => p.manyToOne(User).nullable().createForeignKeyConstraint(false),
    kind: p.text(),
    before: p.json<Record<string, unknown>>().nullable(),
    after: p.json<Record<string, unknown>>().nullable(),
    note: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type ITaskEvent = InferEntity<typeof TaskEvent>;
