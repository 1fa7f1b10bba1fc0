import { Migration } from '@mikro-orm/migrations';

/**
 * Upload processing (issue 4): what a crash-safe, resumable job and the failed-rows download need
 * beyond the initial model.
 */
export class Migration20261122120000_uploads extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      alter table uploads
        -- the CSV header as read, so the failed-rows download has the same columns
        add column header jsonb,
        -- processing attempts: a job that keeps crashing ends 'failed' instead of looping
        add column attempts integer not null default 0,
        -- bytes of the stored file read by the job so far (the progress bar)
        add column bytes_read bigint not null default 0,
        -- refreshed while a request receives the file and while a job processes it
        add column heartbeat_at timestamptz,
        -- what deleting the upload did (archived / kept tasks)
        add column delete_report text,
        add column deleted_by_id bigint references users(id) on delete set null;`);
    // every rejected row, as re-uploadable text (CSV lines or JSON lines), in row order; written in
    // the same transaction as the batch it belongs to
    this.addSql(`
      create table upload_rejects (
        upload_id bigint not null references uploads(id) on delete cascade,
        first_row integer not null,
        data bytea not null,
        primary key (upload_id, first_row)
      );`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists upload_rejects;`);
    this.addSql(`alter table uploads drop column header, drop column bytes_read, drop column attempts, drop column heartbeat_at, drop column delete_report, drop column deleted_by_id;`);
  }
}
