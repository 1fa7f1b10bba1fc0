import { Migration } from '@mikro-orm/migrations';

/**
 * Exports now let COPY write the CSV (quoting included); only text a spreadsheet would run as a
 * formula still needs a leading apostrophe.
 */
export class Migration20261122150000_csv_safe extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop function if exists csv_cell(text);`);
    this.addSql(`
      create function csv_safe(value text) returns text language sql immutable parallel safe as $$
        select case when value ~ '^[=+\\-@\\t\\r]' then '''' || value else value end
      $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists csv_safe(text);`);
    this.addSql(`
      create function csv_cell(value text) returns text language sql immutable parallel safe as $$
        select case when value is null then ''
                    else '"' || replace(case when value ~ '^[=+\\-@\\t\\r]' then '''' || value else value end, '"', '""') || '"' end
      $$;`);
  }
}
