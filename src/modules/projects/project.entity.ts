import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { User } from '../users/user.entity.ts';

export const INPUT_FIELD_TYPES = ['text', 'url', 'image_url', 'integer', 'number', 'date', 'json'] as const;
export const OUTPUT_FIELD_TYPES = ['text', 'number', 'boolean', 'choice', 'multi_choice', 'json'] as const;
export type InputFieldType = (typeof INPUT_FIELD_TYPES)[number];
export type OutputFieldType = (typeof OUTPUT_FIELD_TYPES)[number];

export interface InputField {
  name: string;
  type: InputFieldType;
  required: boolean;
}
export interface OutputField {
  name: string;
  type: OutputFieldType;
  options?: string[];
}

export const Project = defineEntity({
  name: 'Project',
  tableName: 'projects',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    name: p.text(),
    slug: p.text().unique(),
    description: p.text().default(''),
    instructionsUrl: p.text().nullable(),
    autoAssign: p.boolean().default(true),
    queueSize: p.integer().default(1),
    reservationMinutes: p.integer().default(120),
    autoArchiveAfterDays: p.integer().nullable(),
    inputSchema: p.json<InputField[]>().onCreate(() => []),
    outputSchema: p.json<OutputField[]>().onCreate(() => []),
    webhookUrl: p.text().nullable(),
    webhookSecret: p.text().nullable().hidden(),
    webhookAllowedHosts: p.array().columnType('text[]').onCreate(() => []),
    createdBy: () => p.manyToOne(User).nullable().deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type IProject = InferEntity<typeof Project>;
