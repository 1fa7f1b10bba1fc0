import { Migration } from '@mikro-orm/migrations';

/**
 * csv_safe also escapes text that already starts with apostrophes before a formula character,
 * as the upload format removes exactly one (src/lib/csv-cells.ts): the round trip is lossless.
 */
export class Migration20261202120000_csv_safe_apostrophes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create or replace function csv_safe(value text) returns text language sql immutable parallel safe as $$
        select case when value ~ '^''*[=+\\-@\\t\\r]' then '''' || value else value end
      $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`
      create or replace function csv_safe(value text) returns text language sql immutable parallel safe as $$
        select case when value ~ '^[=+\\-@\\t\\r]' then '''' || value else value end
      $$;`);
  }
}
