import { Migration } from '@mikro-orm/migrations';

/**
 * An automatic archive belongs to one run of the nightly job (its pg-boss job id): a run that is
 * killed and resumed fills the same record instead of opening a second one.
 */
export class Migration20261203090000_archive_runs extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table archives add column run_key text;`);
    this.addSql(`create unique index archives_run on archives (project_id, run_key) where run_key is not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table archives drop column run_key;`);
  }
}
