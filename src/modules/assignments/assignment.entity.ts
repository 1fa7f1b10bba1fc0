import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Stage } from '../stages/stage.entity.ts';
import { ASSIGNMENT_KINDS, Task } from '../tasks/task.entity.ts';
import { User } from '../users/user.entity.ts';

export const ASSIGNMENT_STATUSES = [
  'assigned', 'saved', 'pending_finalization', 'finalized', 'skipped', 'issue', 'released', 'expired', 'superseded',
] as const;
export type AssignmentStatus = (typeof ASSIGNMENT_STATUSES)[number];

export const Assignment = defineEntity({
  name: 'Assignment',
  tableName: 'assignments',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    task: () => p.manyToOne(Task).deleteRule('cascade'),
    stage: () => p.manyToOne(Stage),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    status: p.enum(ASSIGNMENT_STATUSES),
    kind: p.enum(ASSIGNMENT_KINDS),
    outcome: p.enum(['accepted', 'rejected', 'corrected'] as const).nullable(),
    issueComment: p.text().nullable(),
    issueResponse: p.text().nullable(),
    skippedAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    finalizedAt: p.datetime().nullable(),
  },
});
export type IAssignment = InferEntity<typeof Assignment>;
