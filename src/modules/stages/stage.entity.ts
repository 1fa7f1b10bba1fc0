import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';

export const STAGE_KINDS = ['label', 'review', 'ground_truth'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

export const Stage = defineEntity({
  name: 'Stage',
  tableName: 'stages',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    name: p.text(),
    kind: p.enum(STAGE_KINDS),
    position: p.integer(),
    /** Share of tasks sampled into this review stage (0 = disabled). */
    reviewPercent: p.integer().default(100),
  },
});
export type IStage = InferEntity<typeof Stage>;
