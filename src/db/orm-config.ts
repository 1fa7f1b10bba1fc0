import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { PreparingClient } from './prepared-statements.ts';
import { Migration20261203000000_initial } from '../../migrations/Migration20261203000000_initial.ts';
import { Migration20261203120000_feed_receipts } from '../../migrations/Migration20261203120000_feed_receipts.ts';
import { Migration20261203160000_bulk_lanes } from '../../migrations/Migration20261203160000_bulk_lanes.ts';
import { Migration20261204120000_bulk_lane_ranges } from '../../migrations/Migration20261204120000_bulk_lane_ranges.ts';
import { AnswerSet } from '../modules/answers/answer-set.entity.ts';
import { ApiToken } from '../modules/api-tokens/api-token.entity.ts';
import { Archive } from '../modules/archives/archive.entity.ts';
import { Assignment } from '../modules/assignments/assignment.entity.ts';
import { BulkOperation } from '../modules/bulk/bulk-operation.entity.ts';
import { WebhookDelivery } from '../modules/deliveries/webhook-delivery.entity.ts';
import { TaskEvent } from '../modules/events/task-event.entity.ts';
import { Export } from '../modules/exports/export.entity.ts';
import { ProjectMember } from '../modules/members/project-member.entity.ts';
import { Project } from '../modules/projects/project.entity.ts';
import { Stage } from '../modules/stages/stage.entity.ts';
import { AppSecret } from '../modules/system/app-secret.entity.ts';
import { Task } from '../modules/tasks/task.entity.ts';
import { Upload, UploadError } from '../modules/uploads/upload.entity.ts';
import { User } from '../modules/users/user.entity.ts';

export const entities = [
  User, ApiToken, AppSecret, Project, Stage, ProjectMember, Task, Assignment, AnswerSet, TaskEvent,
  Upload, UploadError, Archive, Export, BulkOperation, WebhookDelivery,
];

/** Listed explicitly so tsx, vitest and production all run the same migrations. */
const migrationsList = [
  { name: 'Migration20261203000000_initial', class: Migration20261203000000_initial },
  { name: 'Migration20261203120000_feed_receipts', class: Migration20261203120000_feed_receipts },
  { name: 'Migration20261203160000_bulk_lanes', class: Migration20261203160000_bulk_lanes },
  { name: 'Migration20261204120000_bulk_lane_ranges', class: Migration20261204120000_bulk_lane_ranges },
];

/** Connections of a process's database pool. */
export const POOL_SIZE = 10;

export function ormConfig(databaseUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, silent: true, snapshot: false },
    pool: { min: 0, max: POOL_SIZE },
    driverOptions: { Client: PreparingClient },
    // entity data is validated at the edges (TypeBox); the database enforces the rest
    forceUtcTimezone: true,
    debug: false,
    ...overrides,
  });
}
