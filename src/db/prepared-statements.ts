import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * The comment that opts a statement into being prepared. Put it first in the SQL of statements
 * that run on every queue request (a fixed text with parameters): PostgreSQL then plans them once
 * per connection instead of on every call. Planning a query on `tasks` weighs every one of its
 * twenty indexes and costs more than running it. Only fixed texts may carry it: each distinct
 * text stays prepared on the connection for its lifetime.
 */
export const PREPARED = '/* prepared */';

const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `tl_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

/** A `pg` client that runs statements starting with `PREPARED` as named (prepared) statements. */
export class PreparingClient extends pg.Client {
  // @ts-expect-error -- one implementation for pg's many overloads; every call passes straight through
  override query(config: unknown, values?: unknown, callback?: unknown) {
    if (typeof config === 'string' && config.startsWith(PREPARED) && Array.isArray(values)) {
      return super.query({ name: statementName(config), text: config, values }, callback as never);
    }
    return super.query(config as never, values as never, callback as never);
  }
}
