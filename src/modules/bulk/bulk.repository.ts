import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';

export class BulkRepository {
  constructor(private readonly em: EntityManager) {}

  /** How many tasks match, counting at most `cap + 1` (enough to decide inline or job). */
  async count(where: RawBuilder<unknown>, cap?: number): Promise<number> {
    const inner = cap === undefined ? sql`select 1 from tasks t where ${where}` : sql`select 1 from tasks t where ${where} limit ${cap + 1}`;
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from (${inner}) x`.execute(this.em.getKysely());
    return rows[0].n;
  }
}
