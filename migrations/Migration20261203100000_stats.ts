import { Migration } from '@mikro-orm/migrations';

/**
 * The project dashboard (issue 13 §1): two partial indexes for its read-only figures and a table
 * of stored figures for projects too large to aggregate on every request.
 */
export class Migration20261203100000_stats extends Migration {
  override async up(): Promise<void> {
    // throughput per stage and day, the People table (finalized counts, claim → finalize times)
    // and review outcomes: finalized work of a project's stages in a time window, index-only.
    // Written once per finalized assignment (the finalizing update is not HOT anyway).
    this.addSql(`create index assignments_finalized on assignments (stage_id, finalized_at)
                 include (user_id, outcome, created_at, task_id) where status = 'finalized';`);
    // client outcomes (delivered, acknowledged, rejected) of a project in a time window; other
    // event kinds never enter this index
    this.addSql(`create index task_events_client_outcomes on task_events (project_id, created_at)
                 include (kind) where kind in ('delivered', 'acknowledged', 'rejected');`);
    // the dashboard's figures as last computed, per project, viewer scope (null = the whole
    // project, else one member's own figures) and time range; a job refreshes them
    this.addSql(`
      create table dashboard_snapshots (
        project_id bigint not null references projects(id) on delete cascade,
        user_id bigint references users(id) on delete cascade,
        range_days integer not null check (range_days in (7, 30, 90)),
        figures jsonb not null,
        computed_at timestamptz not null,
        -- how long computing took: below the live budget the dashboard computes on every request
        compute_ms integer not null,
        constraint dashboard_snapshots_scope unique nulls not distinct (project_id, user_id, range_days)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists dashboard_snapshots;`);
    this.addSql(`drop index if exists task_events_client_outcomes;`);
    this.addSql(`drop index if exists assignments_finalized;`);
  }
}
