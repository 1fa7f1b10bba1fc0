import type { Queue } from 'pg-boss';

/** the queue settings a job kind gets (createQueue and updateQueue take the same) */
export type QueuePolicy = Omit<Queue, 'name' | 'partition' | 'policy'>;

/**
 * The one failure policy of every background job. Long jobs (bulk operations, exports, uploads,
 * auto-archive, anything that runs for more than a few seconds) send a heartbeat: a killed process
 * stops sending it, pg-boss's supervisor (every SUPERVISE_INTERVAL_SECONDS) fails the job, and it is
 * retried after RETRY_DELAY_SECONDS by whichever process is alive, resuming from its last checkpoint.
 * Worst case kill → resume: HEARTBEAT_SECONDS + SUPERVISE_INTERVAL_SECONDS + retry delay + RETRY_POLL_SECONDS ≈ 25 s.
 */
export const HEARTBEAT_SECONDS = 10;
/**
 * How often an idle worker looks for due jobs. pg-boss wakes workers by NOTIFY on send, but a retry
 * that becomes due (after a kill, a SIGTERM stop or a failure) sends no NOTIFY, and its default
 * fallback poll is 30 s: that alone used to make a stopped job wait half a minute.
 */
export const RETRY_POLL_SECONDS = 2;
/** Dead letters are rare and nothing waits on them: their workers look every 10 s, not every second per kind. */
export const DEAD_LETTER_POLL_SECONDS = 10;
/** how often pg-boss looks for jobs whose heartbeat stopped (see boss.ts) */
export const SUPERVISE_INTERVAL_SECONDS = 10;
/** attempts after the first: kills and SIGTERM stops count as attempts, so leave room for several */
export const RETRY_LIMIT = 10;
/** the first retry waits this long, later ones back off exponentially up to RETRY_DELAY_MAX_SECONDS (kept at a minute: a kill must resume within one) */
export const RETRY_DELAY_SECONDS = 2;
export const RETRY_DELAY_MAX_SECONDS = 60;
/** a live long job is bounded by its heartbeat, not by a fixed run time */
const LONG_JOB_EXPIRE_SECONDS = 12 * 3600;

/** The dead-letter queue of a job kind: jobs that used up their attempts land there for an admin. */
export const deadLetterQueue = (jobName: string) => `${jobName}.dead`;
/** how long a dead letter stays listed for admins after its worker marked the work failed */
const DEAD_LETTER_KEEP_SECONDS = 30 * 24 * 3600;

/**
 * A dead-letter queue: its worker only marks the work failed (retried a few times if the database is
 * away); the job then stays listed. A job sent there wakes the worker (notify); one pg-boss moves
 * there is found by its slow poll (DEAD_LETTER_POLL_SECONDS).
 */
export const deadLetterPolicy = (): QueuePolicy => ({ notify: true, retryLimit: 5, retryDelay: 5, retryBackoff: true, deleteAfterSeconds: DEAD_LETTER_KEEP_SECONDS, retentionSeconds: DEAD_LETTER_KEEP_SECONDS });

/** What the user reads on work that used up its attempts. */
export const finalFailureReason = (retryLimit: number) =>
  `Stopped after ${retryLimit + 1} attempts because of an unexpected error. An instance admin can retry it on the Failed jobs page.`;

export type JobKind = 'long' | 'short';

/** The queue options of a job kind under the shared policy; `overrides` only for what the policy does not decide. */
export function queuePolicy(jobName: string, kind: JobKind, overrides: QueuePolicy = {}): QueuePolicy {
  const base: QueuePolicy = {
    retryLimit: RETRY_LIMIT,
    retryDelay: RETRY_DELAY_SECONDS,
    retryBackoff: true,
    retryDelayMax: RETRY_DELAY_MAX_SECONDS,
    deadLetter: deadLetterQueue(jobName),
  };
  if (kind === 'long') Object.assign(base, { heartbeatSeconds: HEARTBEAT_SECONDS, expireInSeconds: LONG_JOB_EXPIRE_SECONDS });
  return { ...base, ...overrides };
}
