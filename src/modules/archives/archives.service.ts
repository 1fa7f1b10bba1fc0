import { csvSafe } from '../../lib/csv-cells.ts';
import type { EntityManager } from '@mikro-orm/postgresql';
import { stringify } from 'csv-stringify/sync';
import { sql } from 'kysely';
import { notFound } from '../../lib/errors.ts';
import { paged, type Paged } from '../../lib/pagination.ts';
import { CHUNK_SIZE } from '../workflow/selection-writer.ts';
import { archiveTransition } from '../workflow/selection-transitions.ts';
import { Workflow } from '../workflow/workflow.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import type { IUser } from '../users/user.entity.ts';
import { ArchivesRepository, type ArchiveRow, type ArchivedTask } from './archives.repository.ts';

export const ARCHIVE_PAGE_SIZE = 25;
const DOWNLOAD_BATCH = 2_000;
export const ARCHIVE_DOWNLOAD_FORMATS = ['csv', 'json'] as const;
export type ArchiveDownloadFormat = (typeof ARCHIVE_DOWNLOAD_FORMATS)[number];

const DAY_MS = 86_400_000;

/** A cell of the re-uploadable CSV: text formula-safe, numbers as they are, structured values as JSON text. */
const cell = (value: unknown): string =>
  value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : typeof value === 'string' ? csvSafe(value) : String(value);

export class ArchivesService {
  private readonly repo: ArchivesRepository;

  constructor(private readonly em: EntityManager) {
    this.repo = new ArchivesRepository(em);
  }

  async list(access: ProjectAccess, page: number): Promise<Paged<ArchiveRow>> {
    const { rows, total } = await this.repo.list(access.project.id, ARCHIVE_PAGE_SIZE, (page - 1) * ARCHIVE_PAGE_SIZE);
    return paged(rows, total, page, ARCHIVE_PAGE_SIZE);
  }

  async get(access: ProjectAccess, archiveId: number): Promise<ArchiveRow> {
    const archive = await this.repo.get(access.project.id, archiveId);
    if (!archive) throw notFound('No such archive');
    return archive;
  }

  /** Puts the archive's tasks back where they were, with their history; name clashes stay archived. */
  async restore(access: ProjectAccess, actor: IUser, archiveId: number): Promise<{ restored: number; clashes: number }> {
    access.require('manager');
    await this.get(access, archiveId);
    return this.em.transactional(async (em) => {
      const result = await new Workflow(em).restore(access.project.id, archiveId, actor.id);
      if (result.clashes === 0) await new ArchivesRepository(em).markRestored(archiveId, actor.id);
      return result;
    });
  }

  /**
   * The archived tasks in the upload format (SPEC §6), so the file can be uploaded again: `name`,
   * the input fields, `priority`, `priority_score`, `client_batch_id`, `metadata.<key>` and the
   * default answers as `output_<field>`. Yields text pieces; memory stays bounded at any size.
   */
  async *download(access: ProjectAccess, archiveId: number, format: ArchiveDownloadFormat): AsyncGenerator<string> {
    await this.get(access, archiveId);
    const keys = await this.repo.keys(archiveId);
    const schemaInputs = access.project.inputSchema.map((f) => f.name);
    const dataKeys = [...schemaInputs, ...keys.data.filter((k) => !schemaInputs.includes(k))];
    const outputKeys = access.project.outputSchema.map((f) => f.name);
    const record = (task: ArchivedTask): [string, unknown][] => [
      ['name', task.name],
      ...dataKeys.map((k): [string, unknown] => [k, task.data[k]]),
      ['priority', task.priority],
      ['priority_score', task.priorityScore],
      ['client_batch_id', task.clientBatchId],
      ...keys.metadata.map((k): [string, unknown] => [`metadata.${k}`, task.metadata[k]]),
      ...outputKeys.map((k): [string, unknown] => [`output_${k}`, task.defaultAnswers?.[k]]),
    ];
    const header = record({ id: 0, name: '', data: {}, metadata: {}, priority: 0, priorityScore: null, clientBatchId: null, defaultAnswers: null }).map(([k]) => k);

    if (format === 'csv') yield stringify([header]);
    else yield '[';
    let afterId = 0;
    let first = true;
    for (;;) {
      const tasks = await this.repo.tasksAfter(archiveId, afterId, DOWNLOAD_BATCH);
      if (!tasks.length) break;
      if (format === 'csv') {
        yield stringify(tasks.map((t) => record(t).map(([, v]) => cell(v))));
      } else {
        const objects = tasks.map((t) => JSON.stringify(Object.fromEntries(record(t).filter(([, v]) => v !== null && v !== undefined))));
        yield (first ? '\n' : ',\n') + objects.join(',\n');
        first = false;
      }
      afterId = tasks[tasks.length - 1].id;
    }
    if (format === 'json') yield '\n]\n';
  }

  /**
   * Archives, per project with `autoArchiveAfterDays` set, the live tasks with no activity since
   * that many days before `now` — one automatic Archive record per project and run (none when
   * nothing qualifies), so running it twice archives nothing more.
   */
  /**
   * One run of auto-archiving: `run` names it (the job's id) and `now` is when it began, the same on
   * every attempt, so a killed and resumed run uses the same cutoffs and fills the same archive record
   * per project. Each chunk commits with the record's count.
   */
  async archiveInactive(now: Date, run: string, signal?: AbortSignal): Promise<{ projectId: number; archiveId: number; archived: number }[]> {
    const results: { projectId: number; archiveId: number; archived: number }[] = [];
    for (const project of await this.repo.autoArchivingProjects()) {
      const cutoff = new Date(now.getTime() - project.days * DAY_MS);
      const reason = `No activity for ${project.days} ${project.days === 1 ? 'day' : 'days'}`;
      const archiveId = await this.repo.openForRun(project.id, run, reason);
      const where = sql`t.project_id = ${project.id} and t.archive_id is null and t.last_activity_at < ${cutoff}`;
      let archived = 0;
      const workflow = new Workflow(this.em);
      const lanes = await workflow.splitIntoLanes(where);
      await workflow.applyInChunks(archiveTransition(archiveId, reason), where, { projectId: project.id, actorId: null, lanes, limit: CHUNK_SIZE, signal }, async (em, chunk) => {
        await new ArchivesRepository(em).addTasks(archiveId, chunk.changed);
        archived += chunk.changed;
      });
      if (!(await this.repo.dropIfEmpty(archiveId))) results.push({ projectId: project.id, archiveId, archived });
    }
    return results;
  }
}
