import type { EntityManager } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import type { PgBoss } from 'pg-boss';
import type { TSchema } from 'typebox';
import type { Config } from '../config.ts';
import type { ArchivesService } from '../modules/archives/archives.service.ts';
import type { BulkService } from '../modules/bulk/bulk.service.ts';
import type { DeliveriesService } from '../modules/deliveries/deliveries.service.ts';
import type { ExportsService } from '../modules/exports/exports.service.ts';
import type { StatsService } from '../modules/stats/stats.service.ts';
import type { UploadsService } from '../modules/uploads/uploads.service.ts';
import type { JobKind, QueuePolicy } from './failure-policy.ts';

/** The services jobs work with (the composition root hands its full set, which has these). */
export interface JobServices {
  archives: ArchivesService;
  bulk: BulkService;
  deliveries: DeliveriesService;
  exports: ExportsService;
  stats: StatsService;
  uploads: UploadsService;
}

export interface JobContext {
  /** A fresh EntityManager for this job run. */
  em: EntityManager;
  services: JobServices;
  boss: PgBoss;
  config: Config;
  log: FastifyBaseLogger;
  signal: AbortSignal;
  /** pg-boss's id of this job: the same on every attempt, so it names one run of a scheduled job */
  jobId: string;
  /** when the job was sent: the same on every attempt (a resumed run keeps the cutoffs it started with) */
  createdOn: Date;
}

/** What a job hook that runs outside an attempt (dead letters, an admin's retry) gets. */
export type HookContext = Pick<JobContext, 'em' | 'services' | 'log'>;

/**
 * One background job: its queue settings and its handler. Handlers must be idempotent (a crash
 * re-runs them) and must re-check their payload against the database (payloads are not trusted).
 */
export interface JobDefinition<T extends object> {
  name: string;
  /** what the work is called on the admin's Failed jobs page */
  label: string;
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
  /**
   * What the user sees when the job finally fails: it marks the job's tracking row (bulk operation,
   * export, upload, delivery) failed with `reason`. Called for a user-facing refusal (an HttpError,
   * not retried) and for a job that used up its attempts (from its dead letter). Idempotent.
   */
  failed?(data: T, reason: string, ctx: HookContext): Promise<void>;
  /** An admin retries a dead letter: put the tracking row back to work, or say why it cannot be. */
  reopen?(data: T, ctx: HookContext): Promise<{ refused: string } | void>;
  /** An admin drops a dead letter: release what the failed job kept for a retry. */
  dropped?(data: T, ctx: HookContext): Promise<void>;
}

export const defineJob = <T extends object>(job: JobDefinition<T>) => job;
