import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery, sql } from 'kysely';
import type { PgBoss, SendOptions } from 'pg-boss';

/** The job queue (pg-boss) as the modules use it: sending jobs in their own transaction, and reading a job's state. */

/** pg-boss's view of the caller's connection: a job sent through it commits or rolls back with the caller's transaction. */
export function transactionDb(em: EntityManager) {
  const db = em.getKysely();
  return {
    executeSql: async (text: string, values?: unknown[]) => {
      const result = await db.executeQuery(CompiledQuery.raw(text, values ?? []));
      return { rows: result.rows as unknown[] };
    },
  };
}

/**
 * Enqueues a job inside the caller's transaction: the tracking row and the job commit together,
 * so a crash can never leave one without the other.
 */
export async function enqueueInTransaction(em: EntityManager, boss: PgBoss, name: string, data: object, options: SendOptions = {}) {
  return boss.send(name, data, { ...options, db: transactionDb(em) });
}

/**
 * Which of the given tracked items (bulk operations, exports, uploads) have a job that was
 * interrupted and waits to resume: it failed or was stopped and waits for its retry, or its worker
 * stopped sending heartbeats (its process died) and pg-boss has not noticed yet. Their pages say
 * "Interrupted, resuming" instead of a frozen "Running".
 */
export async function interruptedIds(em: EntityManager, jobName: string, key: string, ids: number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    select distinct j.data->>${key} as id from pgboss.job j
    where j.name = ${jobName} and j.data->>${key} = any(${ids.map(String)}::text[])
      and (j.state = 'retry'
           or (j.state = 'active' and j.heartbeat_seconds is not null
               and coalesce(j.heartbeat_on, j.started_on) < now() - make_interval(secs => j.heartbeat_seconds * 1.5)))`.execute(em.getKysely());
  return new Set(rows.map((r) => Number(r.id)));
}
