import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { ExportFormat } from '../bulk/bulk-actions.ts';

/** The fields of an export (SPEC §7), in file order. */
export const EXPORT_COLUMNS = [
  'id', 'name', 'state', 'stage', 'priority', 'priority_score', 'client_batch_id', 'created_at', 'last_submitted_at',
  'data', 'metadata', 'answers', 'assignees',
] as const;

const isoUtc = (column: RawBuilder<unknown>) => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * One text line per task, formatted by PostgreSQL itself (CSV cells through `csv_cell`, which
 * also neutralises spreadsheet formulas; JSON through json_build_object), so the exporting
 * process only concatenates strings and stays fast and small at any size.
 */
function lineExpression(format: ExportFormat): RawBuilder<unknown> {
  if (format === 'csv') {
    return sql`concat_ws(',', t.id::text, csv_cell(t.name), csv_cell(t.state), csv_cell(s.name), t.priority::text,
      coalesce(trim_scale(t.priority_score)::text, ''), csv_cell(t.client_batch_id), ${isoUtc(sql`t.created_at`)},
      coalesce(${isoUtc(sql`t.last_submitted_at`)}, ''), csv_cell(t.data::text), csv_cell(t.metadata::text),
      csv_cell(ans.answers::text), csv_cell(asg.assignees::text))`;
  }
  return sql`json_build_object('id', t.id, 'name', t.name, 'state', t.state, 'stage', s.name, 'priority', t.priority,
    'priorityScore', trim_scale(t.priority_score)::text, 'clientBatchId', t.client_batch_id,
    'createdAt', ${isoUtc(sql`t.created_at`)}, 'lastSubmittedAt', ${isoUtc(sql`t.last_submitted_at`)},
    'data', t.data, 'metadata', t.metadata, 'answers', ans.answers, 'assignees', asg.assignees)::text`;
}

/** The rows of an export in id order: latest answers and current assignees per stage joined in. */
export function exportQuery(format: ExportFormat, where: RawBuilder<unknown>): RawBuilder<{ line: string }> {
  return sql<{ line: string }>`
    select ${lineExpression(format)} as line
    from tasks t
    join stages s on s.id = t.stage_id
    left join lateral (select a.answers from answer_sets a where a.task_id = t.id order by a.id desc limit 1) ans on true
    left join lateral (
      select json_object_agg(x.stage, x.email) as assignees from (
        select distinct on (a.stage_id) st.name as stage, u.email
        from assignments a join stages st on st.id = a.stage_id join users u on u.id = a.user_id
        where a.task_id = t.id and a.status not in ('released', 'expired', 'superseded')
        order by a.stage_id, a.id desc) x
    ) asg on true
    where ${where}
    order by t.id`;
}

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
}

export class ExportsRepository {
  constructor(private readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  async count(where: RawBuilder<unknown>): Promise<number> {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from tasks t where ${where}`.execute(this.db);
    return rows[0].n;
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

  async finish(exportId: number, status: 'completed' | 'failed', errorMessage: string | null = null): Promise<void> {
    await sql`update exports set status = ${status}, error_message = ${errorMessage}, finished_at = now() where id = ${exportId}`.execute(this.db);
  }

  /** Cursor statements: run inside one transaction (see ExportsService.runNow). */
  declareCursor(query: RawBuilder<unknown>) {
    return sql`declare export_rows no scroll cursor for ${query}`.execute(this.db);
  }

  async fetch(count: number): Promise<string[]> {
    const { rows } = await sql<{ line: string }>`fetch forward ${sql.raw(String(Math.trunc(count)))} from export_rows`.execute(this.db);
    return rows.map((r) => r.line);
  }

  async chunk(exportId: number, seq: number): Promise<Buffer | null> {
    const { rows } = await sql<{ data: Buffer }>`select data from export_chunks where export_id = ${exportId} and seq = ${seq}`.execute(this.db);
    return rows.length ? rows[0].data : null;
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
  };
}
