import { Migration } from '@mikro-orm/migrations';

/** Bulk jobs work through their selection in id order; the cursor lets a retried job resume. */
export class Migration20261122100000_bulk_progress extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table bulk_operations add column last_task_id bigint not null default 0;`);
    this.addSql(`create index bulk_operations_project on bulk_operations (project_id, id desc);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists bulk_operations_project;`);
    this.addSql(`alter table bulk_operations drop column last_task_id;`);
  }
}
