import { Migration } from '@mikro-orm/migrations';

/**
 * A bulk job walks its selection in lanes (task id modulo the lane count) side by side on their
 * own connections: each lane resumes after its own last task.
 */
export class Migration20261203160000_bulk_lanes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table bulk_operations add column resume_after bigint[] not null default '{0,0}';`);
    this.addSql(`update bulk_operations set resume_after = array[last_task_id, last_task_id];`);
    this.addSql(`alter table bulk_operations drop column last_task_id;`);
    this.addSql(`comment on column bulk_operations.resume_after is 'Per lane (task id modulo the number of lanes): the last task done, so a retried job resumes after it.';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table bulk_operations add column last_task_id bigint not null default 0;`);
    this.addSql(`update bulk_operations set last_task_id = (select min(x) from unnest(resume_after) x);`);
    this.addSql(`alter table bulk_operations drop column resume_after;`);
  }
}
