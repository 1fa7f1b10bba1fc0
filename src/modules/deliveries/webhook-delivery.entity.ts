import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { Task } from '../tasks/task.entity.ts';

/** One attempt to deliver a completed task to the project's webhook. */
export const WebhookDelivery = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_deliveries',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    task: () => p.manyToOne(Task).deleteRule('cascade'),
    attempt: p.integer(),
    status: p.enum(['pending', 'succeeded', 'failed'] as const),
    responseStatus: p.integer().nullable(),
    error: p.text().nullable(),
    url: p.text().nullable(),
    durationMs: p.integer().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IWebhookDelivery = InferEntity<typeof WebhookDelivery>;
