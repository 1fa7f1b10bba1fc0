import { defineConfig, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { PreparingClient } from './prepared-statements.ts';
import { Migration20261122000000_initial } from '../../migrations/Migration20261122000000_initial.ts';
import { Migration20261122100000_bulk_progress } from '../../migrations/Migration20261122100000_bulk_progress.ts';
import { Migration20261122110000_list_indexes } from '../../migrations/Migration20261122110000_list_indexes.ts';
import { Migration20261122120000_uploads } from '../../migrations/Migration20261122120000_uploads.ts';
import { Migration20261122130000_queues } from '../../migrations/Migration20261122130000_queues.ts';
import { Migration20261122140000_archives_exports } from '../../migrations/Migration20261122140000_archives_exports.ts';
import { Migration20261122150000_csv_safe } from '../../migrations/Migration20261122150000_csv_safe.ts';
import { Migration20261122160000_live_name_search } from '../../migrations/Migration20261122160000_live_name_search.ts';
import { Migration20261202110000_sessions } from '../../migrations/Migration20261202110000_sessions.ts';
import { Migration20261202120000_csv_safe_apostrophes } from '../../migrations/Migration20261202120000_csv_safe_apostrophes.ts';
import { Migration20261203090000_archive_runs } from '../../migrations/Migration20261203090000_archive_runs.ts';
import { Migration20261203100000_stats } from '../../migrations/Migration20261203100000_stats.ts';
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
  { name: 'Migration20261122000000_initial', class: Migration20261122000000_initial },
  { name: 'Migration20261122100000_bulk_progress', class: Migration20261122100000_bulk_progress },
  { name: 'Migration20261122110000_list_indexes', class: Migration20261122110000_list_indexes },
  { name: 'Migration20261122120000_uploads', class: Migration20261122120000_uploads },
  { name: 'Migration20261122130000_queues', class: Migration20261122130000_queues },
  { name: 'Migration20261122140000_archives_exports', class: Migration20261122140000_archives_exports },
  { name: 'Migration20261122150000_csv_safe', class: Migration20261122150000_csv_safe },
  { name: 'Migration20261122160000_live_name_search', class: Migration20261122160000_live_name_search },
  { name: 'Migration20261202110000_sessions', class: Migration20261202110000_sessions },
  { name: 'Migration20261202120000_csv_safe_apostrophes', class: Migration20261202120000_csv_safe_apostrophes },
  { name: 'Migration20261203090000_archive_runs', class: Migration20261203090000_archive_runs },
  { name: 'Migration20261203100000_stats', class: Migration20261203100000_stats },
];

export function ormConfig(databaseUrl: string, overrides: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, silent: true, snapshot: false },
    pool: { min: 0, max: 10 },
    driverOptions: { Client: PreparingClient },
    // entity data is validated at the edges (TypeBox); the database enforces the rest
    forceUtcTimezone: true,
    debug: false,
    ...overrides,
  });
}
