import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Assignment } from '../assignments/assignment.entity.ts';
import { Stage } from '../stages/stage.entity.ts';
import { Task } from '../tasks/task.entity.ts';
import { User } from '../users/user.entity.ts';

export const AnswerSet = defineEntity({
  name: 'AnswerSet',
  tableName: 'answer_sets',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    task: () => p.manyToOne(Task).deleteRule('cascade'),
    stage: () => p.manyToOne(Stage).nullable(),
    assignment: () => p.oneToOne(Assignment).nullable().owner().deleteRule('set null'),
    user: () => p.manyToOne(User).nullable().deleteRule('set null'),
    /** `default` holds model predictions / default answers from the upload. */
    kind: p.enum(['default', 'submission', 'correction'] as const),
    answers: p.json<Record<string, unknown>>().onCreate(() => ({})),
    version: p.integer().default(1),
    submitted: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type IAnswerSet = InferEntity<typeof AnswerSet>;
