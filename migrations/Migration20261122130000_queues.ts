import { Migration } from '@mikro-orm/migrations';

/**
 * Queues, issues and delivery (issue 5): indexes for the issue list and pending webhook
 * deliveries, and what each webhook attempt records.
 */
export class Migration20261122130000_queues extends Migration {
  override async up(): Promise<void> {
    // the Issues view: open issues of a project
    this.addSql(`create index tasks_open_issues on tasks (project_id, id) where has_open_issue and archive_id is null;`);
    // a user's own queue in a stage (My queue, request next): assignee first, then allocation order
    this.addSql(`create index tasks_own_queue on tasks (assignee_id, project_id, stage_id, priority, priority_score desc nulls last, created_at, id)
                 where assignee_id is not null and archive_id is null;`);
    // webhook deliveries still under way
    this.addSql(`create index tasks_delivering on tasks (project_id, id) where delivery_status in ('pending', 'delivering');`);
    this.addSql(`alter table webhook_deliveries add column url text, add column duration_ms integer;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table webhook_deliveries drop column duration_ms, drop column url;`);
    this.addSql(`drop index if exists tasks_delivering;`);
    this.addSql(`drop index if exists tasks_own_queue;`);
    this.addSql(`drop index if exists tasks_open_issues;`);
  }
}
