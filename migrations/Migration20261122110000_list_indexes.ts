import { Migration } from '@mikro-orm/migrations';

/**
 * Indexes for the task list at 1,000,000 tasks (found with EXPLAIN (ANALYZE, BUFFERS) in
 * `npm run bench:list`). The list reads ids first (the page's sorted walk and the capped count),
 * so each index carries the columns the common filters test: the walk filters index entries
 * without visiting the table (index-only scans).
 */
export class Migration20261122110000_list_indexes extends Migration {
  override async up(): Promise<void> {
    // default sort, now covering the common filters (state, stage, priority, batch, assignee, held)
    this.addSql(`create index tasks_list_default on tasks (project_id, last_submitted_at desc nulls last, created_at desc, id desc)
                 include (state, stage_id, priority, client_batch_id, assignee_id, held) where archive_id is null;`);
    this.addSql(`drop index tasks_default_sort;`);
    // one person's tasks (a member's list, "assignee = X") in the default order, with their stage and state
    this.addSql(`create index tasks_list_assignee on tasks (project_id, assignee_id, last_submitted_at desc nulls last, created_at desc, id desc)
                 include (stage_id, state) where archive_id is null and assignee_id is not null;`);
    // client batch ID: exact match, the distinct-value scan of "contains", and the batch sort; with the id
    this.addSql(`create index tasks_list_batch on tasks (project_id, client_batch_id, id) where archive_id is null;`);
    this.addSql(`drop index tasks_client_batch;`);
    // "contains" no longer runs ILIKE over the table (see matchingBatchIds): the trigram index only cost writes
    this.addSql(`drop index tasks_client_batch_trgm;`);
  }

  override async down(): Promise<void> {
    this.addSql(`create index tasks_client_batch_trgm on tasks using gin (client_batch_id gin_trgm_ops);`);
    this.addSql(`create index tasks_client_batch on tasks (project_id, client_batch_id) where archive_id is null;`);
    this.addSql(`drop index tasks_list_batch;`);
    this.addSql(`drop index tasks_list_assignee;`);
    this.addSql(`create index tasks_default_sort on tasks (project_id, last_submitted_at desc nulls last, created_at desc, id desc) where archive_id is null;`);
    this.addSql(`drop index tasks_list_default;`);
  }
}
