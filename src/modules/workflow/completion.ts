import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { transactionDb } from '../../lib/job-queue.ts';

export const DELIVER_TASK = 'deliver-task';
/** deliveries queued per pg-boss insert (one statement each) */
const DELIVERIES_PER_INSERT = 5_000;

/**
 * The completion step: every path into Ground Truth (finalize, review accept and correct, send to
 * stage, and their API calls) leaves the task `completed` with its event, and — when the project
 * has a webhook — `delivery_status = 'pending'` and a delivery job, in the same transaction.
 * The state and event are written by the transition's own SQL (it sets the columns from
 * `deliveryStatusOnCompletion`); this queues the deliveries for the tasks it completed.
 */
export const deliveryStatusOnCompletion = (webhook: boolean): 'pending' | null => (webhook ? 'pending' : null);

export async function queueDeliveries(em: EntityManager, boss: PgBoss | undefined, taskIds: number[]): Promise<void> {
  if (taskIds.length === 0) return;
  if (!boss) throw new Error('completing tasks of a project with a webhook needs the job queue');
  for (let i = 0; i < taskIds.length; i += DELIVERIES_PER_INSERT) {
    const jobs = taskIds.slice(i, i + DELIVERIES_PER_INSERT).map((taskId) => ({ data: { taskId } }));
    await boss.insert(DELIVER_TASK, jobs, { db: transactionDb(em) });
  }
}
