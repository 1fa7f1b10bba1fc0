import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { ExportFormat } from './export-formats.ts';

const isoUtc = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The rows of an export: the selected tasks (in the temp table `export_ids`) with their latest answers and current assignees. */
const EXPORT_FROM = `
  from export_ids e
  join tasks t on t.id = e.id
  join stages s on s.id = t.stage_id
  left join lateral (select a.answers from answer_sets a where a.task_id = t.id order by a.id desc limit 1) ans on true
  left join lateral (
    select json_object_agg(x.stage, x.email) as assignees from (
      select distinct on (a.stage_id) st.name as stage, u.email
      from assignments a join stages st on st.id = a.stage_id join users u on u.id = a.user_id
      where a.task_id = t.id and a.status not in ('released', 'expired', 'superseded')
      order by a.stage_id, a.id desc) x
  ) asg on true
  order by t.id`;

/**
 * The COPY statement that writes an export file: PostgreSQL formats every row itself (CSV with
 * its quoting, formula-like text made inert by \`csv_safe\`; JSON with json_build_object, written
 * verbatim because a CSV "quote" and "delimiter" that JSON never contains turn quoting off).
 * It has no parameters (COPY takes none): the selection is the temp table \`export_ids\`.
 */
export function exportCopySql(format: ExportFormat): string {
  if (format === 'csv') {
    return `copy (
      select t.id, csv_safe(t.name) as name, t.state, csv_safe(s.name) as stage, t.priority,
             trim_scale(t.priority_score) as priority_score, csv_safe(t.client_batch_id) as client_batch_id,
             ${isoUtc('t.created_at')} as created_at, ${isoUtc('t.last_submitted_at')} as last_submitted_at,
             t.data, t.metadata, ans.answers, asg.assignees
      ${EXPORT_FROM}) to stdout with (format csv, header)`;
  }
  return `copy (
    select json_build_object('id', t.id, 'name', t.name, 'state', t.state, 'stage', s.name, 'priority', t.priority,
      'priorityScore', trim_scale(t.priority_score)::text, 'clientBatchId', t.client_batch_id,
      'createdAt', ${isoUtc('t.created_at')}, 'lastSubmittedAt', ${isoUtc('t.last_submitted_at')},
      'data', t.data, 'metadata', t.metadata, 'answers', ans.answers, 'assignees', asg.assignees)::text
    ${EXPORT_FROM}) to stdout with (format csv, delimiter e'\\x02', quote e'\\x01')`;
}

/** A stored export file: its pieces in order, as binary COPY (COPY takes no parameters, so the id is written in). */
export function exportFileCopySql(exportId: number): string {
  if (!Number.isSafeInteger(exportId)) throw new TypeError('export id must be an integer');
  return `copy (select data from export_chunks where export_id = ${exportId} order by seq) to stdout (format binary)`;
}

/** Fills the temp table \`export_ids\` (dropped at commit) with the selected task ids. */
export const selectExportIds = (where: RawBuilder<unknown>) =>
  sql`create temp table export_ids on commit drop as select t.id from tasks t where ${where}`;

export interface ExportRow {
  id: number;
  format: ExportFormat;
  status: string;
  rowsTotal: number | null;
  rowsWritten: number;
  sizeBytes: number;
  errorMessage: string | null;
  createdBy: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  /** what it contains: picked tasks, or a view of the task list (its canonical query, minus unticked rows) */
  contents: { ids: number } | { filter: string; excluded: number };
}

export class ExportsRepository {
  constructor(private readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  /** A fresh start for a (re-)run: the chunks of an earlier attempt are dropped. */
  async reset(exportId: number, rowsTotal: number): Promise<void> {
    await sql`delete from export_chunks where export_id = ${exportId}`.execute(this.db);
    await sql`update exports set status = 'running', rows_total = ${rowsTotal}, rows_written = 0, size_bytes = 0, error_message = null
              where id = ${exportId}`.execute(this.db);
  }

  /** Stores the next piece of the file and the progress it brings, in one statement. */
  async addChunk(exportId: number, seq: number, data: Buffer, rowsWritten: number): Promise<void> {
    await sql`
      with chunk as (insert into export_chunks (export_id, seq, data) values (${exportId}, ${seq}, ${data}))
      update exports set rows_written = ${rowsWritten}, size_bytes = size_bytes + ${data.length} where id = ${exportId}`.execute(this.db);
  }

  async finish(exportId: number, status: 'completed' | 'failed', errorMessage: string | null = null, rowsWritten?: number): Promise<void> {
    await sql`update exports set status = ${status}, error_message = ${errorMessage}, finished_at = now(),
              rows_written = coalesce(${rowsWritten ?? null}::int, rows_written) where id = ${exportId}`.execute(this.db);
  }

  async list(projectId: number, limit: number, offset: number): Promise<{ rows: ExportRow[]; total: number }> {
    const { rows } = await sql<Record<string, unknown>>`
      select e.*, u.name as created_by, count(*) over ()::int as total
      from exports e left join users u on u.id = e.created_by_id
      where e.project_id = ${projectId}
      order by e.id desc limit ${limit} offset ${offset}`.execute(this.db);
    return { rows: rows.map(toExportRow), total: rows.length ? Number(rows[0].total) : 0 };
  }

  async get(projectId: number, exportId: number): Promise<ExportRow | null> {
    const { rows } = await sql<Record<string, unknown>>`
      select e.*, u.name as created_by from exports e left join users u on u.id = e.created_by_id
      where e.project_id = ${projectId} and e.id = ${exportId}`.execute(this.db);
    return rows.length ? toExportRow(rows[0]) : null;
  }

  /** Deletes the files of exports finished before `cutoff`; the rows stay, marked expired. */
  async expireFinishedBefore(cutoff: Date): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      with old as (
        update exports set status = 'expired' where status = 'completed' and finished_at < ${cutoff} returning id
      ), gone as (delete from export_chunks c using old where c.export_id = old.id)
      select count(*)::int as n from old`.execute(this.db);
    return rows[0].n;
  }
}

function toExportRow(r: Record<string, unknown>): ExportRow {
  return {
    id: Number(r.id),
    format: r.format as ExportFormat,
    status: r.status as string,
    rowsTotal: r.rows_total == null ? null : Number(r.rows_total),
    rowsWritten: Number(r.rows_written),
    sizeBytes: Number(r.size_bytes),
    errorMessage: (r.error_message as string | null) ?? null,
    createdBy: (r.created_by as string | null) ?? null,
    createdAt: new Date(r.created_at as string),
    finishedAt: r.finished_at ? new Date(r.finished_at as string) : null,
    contents: contentsOf((r.selection ?? {}) as { ids?: unknown[]; filter?: string; excluded?: unknown[] }),
  };
}

function contentsOf(selection: { ids?: unknown[]; filter?: string; excluded?: unknown[] }): ExportRow['contents'] {
  if (Array.isArray(selection.ids)) return { ids: selection.ids.length };
  return { filter: selection.filter ?? '', excluded: selection.excluded?.length ?? 0 };
}
