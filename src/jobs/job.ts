import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import { CompiledQuery } from 'kysely';
import type { PgBoss, SendOptions } from 'pg-boss';
import type { TSchema } from 'typebox';
import type { Config } from '../config.ts';
import { HttpError } from '../lib/errors.ts';
import type { Services } from '../plugins/app/services.ts';
import type { JobKind, QueuePolicy } from './failure-policy.ts';

export interface JobContext {
  /** A fresh EntityManager for this job run. */
  em: EntityManager;
  services: Services;
  boss: PgBoss;
  config: Config;
  log: FastifyBaseLogger;
  signal: AbortSignal;
  /** false while pg-boss will retry a failure; true on the last attempt */
  lastAttempt: boolean;
}

/**
 * One background job: its queue settings and its handler. Handlers must be idempotent (a crash
 * re-runs them) and must re-check their payload against the database (payloads are not trusted).
 */
export interface JobDefinition<T extends object> {
  name: string;
  /** the shape of the payload: a job whose payload does not match is logged and dropped, never run */
  payload?: TSchema;
  /** 'long' jobs send a heartbeat so a killed process's job resumes within a minute (see failure-policy.ts) */
  kind: JobKind;
  /** only what the shared failure policy does not decide (or a documented exception to it) */
  queue?: QueuePolicy;
  /** workers per process */
  concurrency?: number;
  /** a cron expression (from the config) when the job runs on a schedule */
  schedule?: (config: Config) => string;
  run(data: T, ctx: JobContext): Promise<void>;
}

export const defineJob = <T extends object>(job: JobDefinition<T>) => job;

/**
 * Enqueues a job inside the caller's transaction: the tracking row and the job commit together,
 * so a crash can never leave one without the other.
 */
export async function enqueueInTransaction(em: EntityManager, boss: PgBoss, name: string, data: object, options: SendOptions = {}) {
  const db = em.getKysely();
  return boss.send(name, data, {
    ...options,
    db: {
      executeSql: async (text: string, values?: unknown[]) => {
        const result = await db.executeQuery(CompiledQuery.raw(text, values ?? []));
        return { rows: result.rows as unknown[] };
      },
    },
  });
}

/**
 * What a failed run of tracked work leaves behind. A user-facing reason (an HttpError: the owner
 * lost access, the payload is no longer valid) ends the work with that reason at once; anything
 * else is rethrown so pg-boss retries it, and only the last attempt records `generic` as failed.
 */
export async function settleFailure(
  err: unknown,
  { signal, lastAttempt }: { signal?: AbortSignal; lastAttempt: boolean },
  fail: (reason: string) => Promise<void>,
  generic: string,
): Promise<void> {
  const reason = err instanceof HttpError ? err.message : null;
  if (reason === null && (signal?.aborted || !lastAttempt)) throw err;
  await fail(reason ?? generic);
  if (reason === null) throw err;
}
