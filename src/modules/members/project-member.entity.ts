import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Project } from '../projects/project.entity.ts';
import { Stage } from '../stages/stage.entity.ts';
import { User } from '../users/user.entity.ts';

export const PROJECT_ROLES = ['admin', 'manager', 'member'] as const;
export type ProjectRole = (typeof PROJECT_ROLES)[number];

export const ProjectMember = defineEntity({
  name: 'ProjectMember',
  tableName: 'project_members',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    project: () => p.manyToOne(Project).deleteRule('cascade'),
    user: () => p.manyToOne(User).deleteRule('cascade'),
    role: p.enum(PROJECT_ROLES),
    /** Stages this member may work in; empty means every stage. */
    stages: () =>
      p.manyToMany(Stage).pivotTable('project_member_stages').joinColumn('project_member_id').inverseJoinColumn('stage_id'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IProjectMember = InferEntity<typeof ProjectMember>;
