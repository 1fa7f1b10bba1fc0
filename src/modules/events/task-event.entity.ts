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
    task: () => p.manyToOne(Task).deleteRule('cascade'),
    // no declared foreign keys to projects and users (never deleted): see README, "Data integrity"
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
