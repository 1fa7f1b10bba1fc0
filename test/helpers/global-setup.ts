import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { PgBoss } from 'pg-boss';
import { EmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { migrate } from '../../src/db/migrate.ts';

export const TEMPLATE_DB = 'tasklane_template';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the `postgres` database on the throw-away test cluster. */
    pgAdminUrl: string;
  }
}

/**
 * One throw-away PostgreSQL cluster for the whole run, with a migrated template database
 * (pg-boss schema included) that every test file clones.
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-test-'));
  chmodSync(dir, 0o755);
  const server = new EmbeddedPostgres({
    dir,
    database: TEMPLATE_DB,
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' },
  });
  const templateUrl = await server.start();
  await migrate(templateUrl);
  const boss = new PgBoss({ connectionString: templateUrl, supervise: false, schedule: false });
  await boss.start();
  await boss.stop({ graceful: false });
  project.provide('pgAdminUrl', server.url('postgres'));

  return async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
