import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

export interface DeliveredTask {
  id: number;
  name: string;
  state: string;
  priority: number;
  priorityScore: string | null;
  clientBatchId: string | null;
  data: unknown;
  metadata: Record<string, string>;
  answers: Record<string, unknown> | null;
  createdAt: string;
  completedAt: string | null;
}

export interface AttemptRow {
  id: number;
  taskId: number;
  attempt: number;
  status: string;
  responseStatus: number | null;
  error: string | null;
  durationMs: number | null;
  createdAt: Date;
}

const iso = (v: unknown) => (v === null || v === undefined ? null : (v instanceof Date ? v : new Date(String(v))).toISOString());

/** The final answers of a task: the newest submitted submission or correction. */
const FINAL_ANSWERS = sql`(select a.answers from answer_sets a where a.task_id = t.id and a.kind in ('submission', 'correction') and a.submitted order by a.id desc limit 1)`;

export class DeliveriesRepository {
  constructor(readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  /** Tasks as the feed and the webhook show them, in id order. */
  async delivered(ids: number[]): Promise<DeliveredTask[]> {
    if (ids.length === 0) return [];
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.name, t.state, t.priority, trim_scale(t.priority_score)::text as priority_score, t.client_batch_id, t.data, t.metadata,
             ${FINAL_ANSWERS} as answers, t.created_at, t.last_submitted_at
      from tasks t where t.id = any(${ids}::bigint[]) order by t.id`.execute(this.db);
    return rows.map(toDelivered);
  }

  /** A task as the webhook sends it, if it still waits for the webhook. */
  async pendingTask(taskId: number): Promise<(DeliveredTask & { projectId: number; deliveryStatus: string | null }) | null> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.project_id, t.name, t.state, t.priority, trim_scale(t.priority_score)::text as priority_score, t.client_batch_id, t.data, t.metadata,
             ${FINAL_ANSWERS} as answers, t.created_at, t.last_submitted_at, t.delivery_status
      from tasks t where t.id = ${taskId}::bigint and t.archive_id is null`.execute(this.db);
    const r = rows[0];
    return r ? { ...toDelivered(r), projectId: Number(r.project_id), deliveryStatus: (r.delivery_status as string | null) ?? null } : null;
  }

  async lastAttemptError(taskId: number): Promise<string | null> {
    const { rows } = await sql<{ error: string | null }>`select error from webhook_deliveries where task_id = ${taskId}::bigint order by id desc limit 1`.execute(this.db);
    return rows[0]?.error ?? null;
  }

  async nextAttempt(taskId: number): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from webhook_deliveries where task_id = ${taskId}::bigint`.execute(this.db);
    return rows[0].n + 1;
  }

  async recordAttempt(a: { projectId: number; taskId: number; attempt: number; status: 'succeeded' | 'failed'; responseStatus: number | null; error: string | null; url: string; durationMs: number }): Promise<void> {
    await sql`insert into webhook_deliveries (project_id, task_id, attempt, status, response_status, error, url, duration_ms)
      values (${a.projectId}::bigint, ${a.taskId}::bigint, ${a.attempt}::int, ${a.status}::text, ${a.responseStatus}::int, ${a.error}::text, ${a.url}::text, ${a.durationMs}::int)`.execute(this.db);
  }

  async recentAttempts(projectId: number, limit = 50): Promise<AttemptRow[]> {
    const { rows } = await sql<Record<string, unknown>>`select id, task_id, attempt, status, response_status, error, duration_ms, created_at
      from webhook_deliveries where project_id = ${projectId}::bigint order by id desc limit ${limit}::int`.execute(this.db);
    return rows.map((r) => ({
      id: Number(r.id), taskId: Number(r.task_id), attempt: Number(r.attempt), status: String(r.status),
      responseStatus: r.response_status === null ? null : Number(r.response_status), error: (r.error as string | null) ?? null,
      durationMs: r.duration_ms === null ? null : Number(r.duration_ms), createdAt: new Date(String(r.created_at instanceof Date ? r.created_at.toISOString() : r.created_at)),
    }));
  }

  async deliveringCount(projectId: number): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from tasks where project_id = ${projectId}::bigint and delivery_status in ('pending', 'delivering')`.execute(this.db);
    return rows[0].n;
  }
}

function toDelivered(r: Record<string, unknown>): DeliveredTask {
  return {
    id: Number(r.id), name: String(r.name), state: String(r.state), priority: Number(r.priority), priorityScore: (r.priority_score as string | null) ?? null,
    clientBatchId: (r.client_batch_id as string | null) ?? null, data: r.data, metadata: (r.metadata as Record<string, string>) ?? {},
    answers: (r.answers as Record<string, unknown> | null) ?? null, createdAt: iso(r.created_at)!, completedAt: iso(r.last_submitted_at),
  };
}
