import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { ChunkResult, LaneRange } from '../workflow/selection-writer.ts';

export class BulkRepository {
  constructor(private readonly em: EntityManager) {}

  /** How many tasks match, counting at most `cap + 1` (enough to decide inline or job). */
  async count(where: RawBuilder<unknown>, cap?: number): Promise<number> {
    const inner = cap === undefined ? sql`select 1 from tasks t where ${where}` : sql`select 1 from tasks t where ${where} limit ${cap + 1}`;
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from (${inner}) x`.execute(this.em.getKysely());
    return rows[0].n;
  }

  /** The operation's lanes: where each resumes (its last task done) and ends; null before they are drawn. */
  async lanes(operationId: number): Promise<LaneRange[] | null> {
    const { rows } = await sql<{ after: string[]; ends: string[] | null }>`
      select resume_after::text[] as after, lane_ends::text[] as ends from bulk_operations where id = ${operationId}`.execute(this.em.getKysely());
    const { after, ends } = rows[0];
    return ends ? after.map((a, lane) => ({ afterId: Number(a), upTo: Number(ends[lane]) })) : null;
  }

  /**
   * Draws the lanes of an operation that has not started any: false when another runner drew
   * them first (the caller reads theirs).
   */
  async startLanes(operationId: number, lanes: LaneRange[]): Promise<boolean> {
    const { rows } = await sql`
      update bulk_operations set resume_after = ${lanes.map((l) => l.afterId)}::bigint[], lane_ends = ${lanes.map((l) => l.upTo)}::bigint[]
      where id = ${operationId} and lane_ends is null and processed = 0
      returning id`.execute(this.em.getKysely());
    return rows.length === 1;
  }

  /**
   * Adds a committed chunk of `lane` to the operation's counters and moves the lane's resume point,
   * in the chunk's transaction, only if the lane still resumes at `afterId` and the operation
   * runs: false when another runner moved it on meanwhile (the caller undoes the chunk). The
   * update waits for the other lanes' chunks and then re-checks on the row they left.
   */
  async recordChunk(operationId: number, lane: number, afterId: number, chunk: ChunkResult): Promise<boolean> {
    const { rows } = await sql`
      update bulk_operations b set
        processed = b.processed + ${chunk.seen}, changed = b.changed + ${chunk.changed},
        skipped = b.skipped || (select coalesce(jsonb_object_agg(e.reason, coalesce((b.skipped ->> e.reason)::int, 0) + e.n::int), '{}')
                                from jsonb_each_text(${JSON.stringify(chunk.skipped)}::jsonb) as e(reason, n)),
        -- tasks may have joined the filter since it was counted
        total = greatest(b.total, b.processed + ${chunk.seen}),
        resume_after[${lane + 1}] = ${chunk.lastId}
      where b.id = ${operationId} and b.status = 'running' and b.resume_after[${lane + 1}] = ${afterId}
      returning b.id`.execute(this.em.getKysely());
    return rows.length === 1;
  }
}
