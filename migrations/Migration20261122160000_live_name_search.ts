import { Migration } from '@mikro-orm/migrations';

/**
 * Name search only ever looks at live tasks: a trigram index of live names only means archiving
 * (and every other update that archives) writes no trigram entries.
 */
export class Migration20261122160000_live_name_search extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop index if exists tasks_name_trgm;`);
    this.addSql(`create index tasks_name_trgm on tasks using gin (name gin_trgm_ops) where archive_id is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists tasks_name_trgm;`);
    this.addSql(`create index tasks_name_trgm on tasks using gin (name gin_trgm_ops);`);
  }
}
