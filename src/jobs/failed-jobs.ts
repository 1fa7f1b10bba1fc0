import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { conflict, notFound } from '../lib/errors.ts';
import { deadLetterQueue } from './failure-policy.ts';
import type { HookContext, JobDefinition } from './job.ts';

export interface FailedJob {
  /** the dead letter's own id (in `<name>.dead`) */
  id: string;
  jobName: string;
  /** what kind of work it was, for people */
  label: string;
  /** which item it was about: "operation 12", "upload 7" */
  subject: string;
  failedAt: Date;
  attempts: number;
  /** the error of the last attempt, as pg-boss recorded it (admins only) */
  lastError: string | null;
}

/**
 * The dead letters of every job kind, for instance admins: work that used up its attempts (its
 * tracking row already says it failed). Retrying puts the work back in its queue (the job's
 * `reopen` hook sets the row back to running, or refuses); dropping forgets it.
 */
export class FailedJobs {
  constructor(
    private readonly jobs: JobDefinition<any>[],
    private readonly boss: PgBoss,
    private readonly context: () => HookContext,
  ) {}

  async list(limit: number, offset: number): Promise<{ rows: FailedJob[]; total: number }> {
    const names = this.jobs.map((j) => deadLetterQueue(j.name));
    const { rows } = await sql<Record<string, any>>`
      select id::text, name, data, created_on, source_name, source_retry_count, source_output, count(*) over ()::int as total
      from pgboss.job where name = any(${names}::text[])
      order by created_on desc, id limit ${limit} offset ${offset}`.execute(this.context().em.getKysely());
    return {
      rows: rows.map((r) => {
        const job = this.jobs.find((j) => deadLetterQueue(j.name) === r.name)!;
        return {
          id: r.id, jobName: job.name, label: job.label, subject: subjectOf(r.data ?? {}),
          failedAt: new Date(r.created_on), attempts: Number(r.source_retry_count ?? 0) + 1,
          lastError: typeof r.source_output?.message === 'string' ? r.source_output.message : null,
        };
      }),
      total: rows.length ? Number(rows[0].total) : 0,
    };
  }

  async retry(jobName: string, id: string): Promise<void> {
    const { job, data } = await this.find(jobName, id);
    const refusal = await job.reopen?.(data, this.context());
    if (refusal) throw conflict(refusal.refused);
    await this.boss.send(job.name, data);
    await this.boss.deleteJob(deadLetterQueue(job.name), id);
  }

  async drop(jobName: string, id: string): Promise<void> {
    const { job, data } = await this.find(jobName, id);
    await job.dropped?.(data, this.context());
    await this.boss.deleteJob(deadLetterQueue(job.name), id);
  }

  private async find(jobName: string, id: string) {
    const job = this.jobs.find((j) => j.name === jobName);
    const dead = job && /^[0-9a-f-]{36}$/i.test(id) ? await this.boss.getJobById<object>(deadLetterQueue(job.name), id) : null;
    if (!job || !dead) throw notFound('No such failed job (it may have been retried or dropped already)');
    return { job, data: dead.data };
  }
}

/** "operation 12", "export 3", "upload 7", "task 88" from a job's payload. */
function subjectOf(data: Record<string, unknown>): string {
  const [key, value] = Object.entries(data).find(([k]) => k.endsWith('Id')) ?? [];
  if (!key) return '';
  const noun = key.slice(0, -2).replace(/^operation$/, 'bulk operation');
  return `${noun} ${String(value)}`;
}
