import { Migration } from '@mikro-orm/migrations';

/**
 * A bulk job's lanes are contiguous ranges of task ids (they were ids modulo the lane count): each
 * lane resumes after `resume_after[lane]` and ends at `lane_ends[lane]`, drawn once when the job
 * first runs. A job stopped mid-way under the old lanes cannot resume under the new ones: it is
 * marked failed, with what it changed kept.
 */
export class Migration20261204120000_bulk_lane_ranges extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table bulk_operations add column lane_ends bigint[];`);
    this.addSql(`update bulk_operations set status = 'failed', finished_at = now(),
      error_message = 'Stopped by an upgrade of Tasklane before it finished; what it changed stays. Run the action again for the rest.'
      where status = 'running' and processed > 0;`);
    this.addSql(`update bulk_operations set resume_after = '{0,0}' where status in ('queued', 'running');`);
    this.addSql(`comment on column bulk_operations.resume_after is 'Per lane: the last task done, so a retried job resumes after it.';`);
    this.addSql(`comment on column bulk_operations.lane_ends is 'Per lane: the last task id of its range (lanes are contiguous id ranges drawn when the job first runs); null before.';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table bulk_operations drop column lane_ends;`);
  }
}
