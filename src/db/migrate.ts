import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from './orm-config.ts';

/** Applies pending migrations with a short-lived ORM (several processes may start at once: the migrator locks). */
export async function migrate(databaseUrl: string): Promise<void> {
  const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
  try {
    // one process migrates at a time when several start together
    await orm.em.getConnection().execute('select pg_advisory_lock(727274)');
    await orm.migrator.up();
  } finally {
    await orm.em.getConnection().execute('select pg_advisory_unlock(727274)').catch(() => {});
    await orm.close();
  }
}
