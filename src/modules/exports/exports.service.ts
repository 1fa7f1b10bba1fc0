import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { enqueueInTransaction } from '../../jobs/job.ts';
import { forbidden, HttpError, notFound, unprocessable } from '../../lib/errors.ts';
import { EXPORT_FORMATS, type ExportFormat } from '../bulk/bulk-actions.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { ProjectsService } from '../projects/projects.service.ts';
import { loadSelection, selectionWhere, storeSelection, type StoredSelection, type TaskSelection } from '../tasks/task-selection.ts';
import { User, type IUser } from '../users/user.entity.ts';
import { Export, type IExport } from './export.entity.ts';
import { EXPORT_COLUMNS, exportQuery, ExportsRepository, type ExportRow } from './exports.repository.ts';

export const RUN_EXPORT = 'run-export';
export const EXPORT_PAGE_SIZE = 25;
/** rows fetched from the cursor at a time */
const FETCH_ROWS = 5_000;
/** size of one stored piece of the file */
const CHUNK_BYTES = 1 << 20;
const DAY_MS = 86_400_000;

export const EXPORT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
};

export class ExportsService {
  private readonly repo: ExportsRepository;

  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {
    this.repo = new ExportsRepository(em);
  }

  /** Starts an export of a selection: the tracking row and its job commit together. */
  async start(access: ProjectAccess, actor: IUser, format: string, selection: TaskSelection): Promise<IExport> {
    if (!access.canManageTasks) throw forbidden('Only project admins and managers can export');
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw unprocessable('Choose CSV, JSON or JSONL', { format: 'Choose CSV, JSON or JSONL' });
    if ('ids' in selection && selection.ids.length === 0) throw unprocessable('Select at least one task', { ids: 'Select at least one task' });
    if (!this.boss) throw new Error('exports need the job queue');
    const boss = this.boss;
    return this.em.transactional(async (em) => {
      const row = em.create(Export, { project: access.project, format: format as ExportFormat, selection: storeSelection(selection), createdBy: actor });
      await em.flush();
      await enqueueInTransaction(em, boss, RUN_EXPORT, { exportId: row.id });
      return row;
    });
  }

  async list(access: ProjectAccess, page: number) {
    const { rows, total } = await this.repo.list(access.project.id, EXPORT_PAGE_SIZE, (page - 1) * EXPORT_PAGE_SIZE);
    return { rows, total, page, pages: Math.max(1, Math.ceil(total / EXPORT_PAGE_SIZE)) };
  }

  async get(access: ProjectAccess, exportId: number): Promise<ExportRow> {
    const row = await this.repo.get(access.project.id, exportId);
    if (!row) throw notFound('No such export');
    return row;
  }

  /** A finished export's file, piece by piece as stored (the caller checks it is completed). */
  async *file(exportId: number): AsyncGenerator<Buffer> {
    for (let seq = 0; ; seq++) {
      const data = await this.repo.chunk(exportId, seq);
      if (!data) return;
      yield data;
    }
  }

  /**
   * Writes the export: rows come from a server-side cursor in one read transaction; the file is
   * stored in 1 MiB pieces with its progress on separate connections, so progress shows while it
   * runs. A retry starts the file again from scratch (idempotent).
   */
  async runNow(exportId: number, { signal, lastAttempt = true }: { signal?: AbortSignal; lastAttempt?: boolean } = {}): Promise<void> {
    const row = await this.em.findOne(Export, { id: exportId }, { populate: ['project', 'createdBy'] });
    if (!row || row.status === 'completed' || row.status === 'failed' || row.status === 'expired') return;
    try {
      const actor = row.createdBy ? await this.em.findOne(User, { id: row.createdBy.id, active: true }) : null;
      if (!actor) throw unprocessable('The user who asked for this export no longer exists or is deactivated');
      const access = await new ProjectsService(this.em).access(actor, row.project.id);
      if (!access.canManageTasks) throw forbidden('The user who asked for this export may no longer export');
      const where = selectionWhere(access.project.id, actor.id, loadSelection(row.selection as StoredSelection));
      await this.repo.reset(exportId, await this.repo.count(where));

      let seq = 0;
      let rows = 0;
      let pending: string[] = [];
      let pendingBytes = 0;
      const push = (text: string) => {
        pending.push(text);
        pendingBytes += text.length;
      };
      const store = async () => {
        if (!pending.length) return;
        const data = Buffer.from(pending.join(''), 'utf8');
        pending = [];
        pendingBytes = 0;
        await this.repo.addChunk(exportId, seq++, data, rows);
      };

      if (row.format === 'csv') push(`${EXPORT_COLUMNS.join(',')}\n`);
      if (row.format === 'json') push('[');
      await this.em.transactional(async (tx) => {
        const cursor = new ExportsRepository(tx);
        await cursor.declareCursor(exportQuery(row.format, where));
        for (;;) {
          signal?.throwIfAborted();
          const lines = await cursor.fetch(FETCH_ROWS);
          if (!lines.length) break;
          if (row.format === 'json') push((rows === 0 ? '\n' : ',\n') + lines.join(',\n'));
          else push(`${lines.join('\n')}\n`);
          rows += lines.length;
          if (pendingBytes >= CHUNK_BYTES) await store();
        }
      }, { readOnly: true });
      if (row.format === 'json') push(rows ? '\n]\n' : ']\n');
      await store();
      await this.repo.finish(exportId, 'completed');
    } catch (err) {
      const reason = err instanceof HttpError ? err.message : null;
      if (reason === null && (signal?.aborted || !lastAttempt)) throw err;
      await this.repo.finish(exportId, 'failed', reason ?? 'The export failed unexpectedly');
      if (reason === null) throw err;
    }
  }

  /** Deletes the files of exports older than `days` (their rows stay, marked expired). */
  expireOld(now: Date, days: number): Promise<number> {
    return this.repo.expireFinishedBefore(new Date(now.getTime() - days * DAY_MS));
  }
}
