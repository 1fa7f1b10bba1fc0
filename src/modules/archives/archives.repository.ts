import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';

export interface ArchiveRow {
  id: number;
  createdAt: Date;
  /** null = automatic archiving (shown as N/A) */
  createdBy: string | null;
  reason: string;
  taskCount: number;
  /** tasks still in the archive (fewer than taskCount after a restore) */
  remaining: number;
  automatic: boolean;
  restoredAt: Date | null;
  restoredBy: string | null;
}

/** A task of an archive, as the download writes it. */
export interface ArchivedTask {
  id: number;
  name: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  priority: number;
  priorityScore: string | null;
  clientBatchId: string | null;
  /** the default (model) answers uploaded with the task */
  defaultAnswers: Record<string, unknown> | null;
}

export class ArchivesRepository {
  constructor(private readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  /** A new, empty Archive record; `actorId` null for automatic archiving. */
  async open(projectId: number, actorId: number | null, reason: string, automatic: boolean): Promise<number> {
    const { rows } = await sql<{ id: string }>`
      insert into archives (project_id, created_by_id, reason, automatic) values (${projectId}, ${actorId}, ${reason}, ${automatic})
      returning id`.execute(this.db);
    return Number(rows[0].id);
  }

  /** The automatic archive of one run of the nightly job for a project: opened by its first attempt, reused by a resumed one. */
  async openForRun(projectId: number, runKey: string, reason: string): Promise<number> {
    const { rows } = await sql<{ id: string }>`
      insert into archives (project_id, created_by_id, reason, automatic, run_key) values (${projectId}, null, ${reason}, true, ${runKey})
      on conflict (project_id, run_key) where run_key is not null do update set reason = excluded.reason
      returning id`.execute(this.db);
    return Number(rows[0].id);
  }

  async addTasks(archiveId: number, count: number): Promise<void> {
    if (count > 0) await sql`update archives set task_count = task_count + ${count} where id = ${archiveId}`.execute(this.db);
  }

  /** Removes an archive that received no task (nothing to show or restore). */
  async dropIfEmpty(archiveId: number): Promise<boolean> {
    const { rows } = await sql`delete from archives where id = ${archiveId} and task_count = 0 returning id`.execute(this.db);
    return rows.length > 0;
  }

  async list(projectId: number, limit: number, offset: number): Promise<{ rows: ArchiveRow[]; total: number }> {
    const { rows } = await sql<Record<string, unknown>>`
      select a.id, a.created_at, c.name as created_by, a.reason, a.task_count, a.automatic, a.restored_at, r.name as restored_by,
             (select count(*) from tasks t where t.archive_id = a.id)::int as remaining,
             count(*) over ()::int as total
      from archives a
      left join users c on c.id = a.created_by_id
      left join users r on r.id = a.restored_by_id
      where a.project_id = ${projectId}
      order by a.id desc
      limit ${limit} offset ${offset}`.execute(this.db);
    return { rows: rows.map(toArchiveRow), total: rows.length ? Number(rows[0].total) : 0 };
  }

  async get(projectId: number, archiveId: number): Promise<ArchiveRow | null> {
    const { rows } = await sql<Record<string, unknown>>`
      select a.id, a.created_at, c.name as created_by, a.reason, a.task_count, a.automatic, a.restored_at, r.name as restored_by,
             (select count(*) from tasks t where t.archive_id = a.id)::int as remaining
      from archives a
      left join users c on c.id = a.created_by_id
      left join users r on r.id = a.restored_by_id
      where a.project_id = ${projectId} and a.id = ${archiveId}`.execute(this.db);
    return rows.length ? toArchiveRow(rows[0]) : null;
  }

  /** The archive's tasks are all back. */
  async markRestored(archiveId: number, actorId: number): Promise<void> {
    await sql`update archives set restored_at = now(), restored_by_id = ${actorId} where id = ${archiveId}`.execute(this.db);
  }

  /** Keys used by the archive's task data and metadata (the columns of a CSV download). */
  async keys(archiveId: number): Promise<{ data: string[]; metadata: string[] }> {
    const { rows } = await sql<{ source: string; key: string }>`
      select distinct 'data' as source, k as key from tasks t, jsonb_object_keys(t.data) k
        where t.archive_id = ${archiveId} and jsonb_typeof(t.data) = 'object'
      union
      select distinct 'metadata', k from tasks t, jsonb_object_keys(t.metadata) k
        where t.archive_id = ${archiveId} and jsonb_typeof(t.metadata) = 'object'
      order by 1, 2`.execute(this.db);
    return {
      data: rows.filter((r) => r.source === 'data').map((r) => r.key),
      metadata: rows.filter((r) => r.source === 'metadata').map((r) => r.key),
    };
  }

  /** The next page of an archive's tasks in id order (keyset: bounded memory at any size). */
  async tasksAfter(archiveId: number, afterId: number, limit: number): Promise<ArchivedTask[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.name, t.data, t.metadata, t.priority, trim_scale(t.priority_score)::text as priority_score, t.client_batch_id,
             (select a.answers from answer_sets a where a.task_id = t.id and a.kind = 'default' order by a.id desc limit 1) as default_answers
      from tasks t where t.archive_id = ${archiveId} and t.id > ${afterId}
      order by t.id limit ${limit}`.execute(this.db);
    return rows.map((r) => ({
      id: Number(r.id),
      name: r.name as string,
      data: (r.data as Record<string, unknown>) ?? {},
      metadata: (r.metadata as Record<string, unknown>) ?? {},
      priority: Number(r.priority),
      priorityScore: (r.priority_score as string | null) ?? null,
      clientBatchId: (r.client_batch_id as string | null) ?? null,
      defaultAnswers: (r.default_answers as Record<string, unknown> | null) ?? null,
    }));
  }

  /** Projects that archive inactive tasks automatically, with their threshold in days. */
  async autoArchivingProjects(): Promise<{ id: number; days: number }[]> {
    const { rows } = await sql<{ id: string; days: number }>`
      select id, auto_archive_after_days as days from projects where auto_archive_after_days is not null order by id`.execute(this.db);
    return rows.map((r) => ({ id: Number(r.id), days: Number(r.days) }));
  }
}

function toArchiveRow(r: Record<string, unknown>): ArchiveRow {
  return {
    id: Number(r.id),
    createdAt: new Date(r.created_at as string),
    createdBy: (r.created_by as string | null) ?? null,
    reason: r.reason as string,
    taskCount: Number(r.task_count),
    remaining: Number(r.remaining),
    automatic: Boolean(r.automatic),
    restoredAt: r.restored_at ? new Date(r.restored_at as string) : null,
    restoredBy: (r.restored_by as string | null) ?? null,
  };
}
