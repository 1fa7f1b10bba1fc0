import { Migration } from '@mikro-orm/migrations';

/**
 * Archiving and exports. A name is unique among the live tasks of a project only, so an archived
 * task's name can be uploaded again (restoring it then reports the clash instead of overwriting).
 */
export class Migration20261122140000_archives_exports extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table tasks drop constraint tasks_project_id_name_key;`);
    this.addSql(`create unique index tasks_name_live on tasks (project_id, name) where archive_id is null;`);
    // one CSV cell: quoted, and text a spreadsheet would run as a formula made inert
    this.addSql(`
      create function csv_cell(value text) returns text language sql immutable parallel safe as $$
        select case when value is null then ''
                    else '"' || replace(case when value ~ '^[=+\\-@\\t\\r]' then '''' || value else value end, '"', '""') || '"' end
      $$;`);
    this.addSql(`create index exports_finished on exports (finished_at) where status = 'completed';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists exports_finished;`);
    this.addSql(`drop function if exists csv_cell(text);`);
    this.addSql(`drop index if exists tasks_name_live;`);
    this.addSql(`alter table tasks add constraint tasks_project_id_name_key unique (project_id, name);`);
  }
}
