import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { unprocessable } from '../../lib/errors.ts';
import type { BulkOutcome, BulkService } from '../bulk/bulk.service.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { Project } from '../projects/project.entity.ts';
import type { IUser } from '../users/user.entity.ts';
import { Workflow } from '../workflow/workflow.ts';
import { DeliveriesRepository, type AttemptRow, type DeliveredTask } from './deliveries.repository.ts';
import { isInternalHost, newWebhookSecret, normalizeHosts, postSigned, resolveTarget, WebhookRefused } from './webhook.ts';

export interface WebhookSettings {
  url: string;
  /** one host per line (the page's text area) or a list (the API) */
  allowedHosts: string | string[];
  regenerateSecret?: boolean;
}

/** Delivery of completed tasks (SPEC §4): the API feed, client acknowledge / reject, the signed webhook. */
export class DeliveriesService {
  private readonly repo: DeliveriesRepository;
  private readonly workflow: Workflow;

  constructor(
    private readonly em: EntityManager,
    private readonly bulk: BulkService,
  ) {
    this.repo = new DeliveriesRepository(em);
    this.workflow = new Workflow(em);
  }

  /**
   * The delivery feed, at least once (admins and managers: the client's token): the next completed
   * tasks after `cursor`, each `sent` until its receipt is confirmed. Coming back with a cursor
   * confirms every task sent up to it; without one the feed starts over, unconfirmed tasks included.
   */
  async feed(access: ProjectAccess, user: IUser, cursor: number | null, limit: number): Promise<DeliveredTask[]> {
    access.require('manager');
    return this.em.transactional(async (em) => new DeliveriesRepository(em).delivered(
      await new Workflow(em).deliverFeed(access.project.id, user.id, { afterId: cursor ?? 0, limit, confirmUpTo: cursor })));
  }

  /** The client confirms it received these tasks from the feed: they become delivered. Returns how many did. */
  async confirmReceipt(access: ProjectAccess, user: IUser, taskIds: number[]): Promise<number> {
    access.require('manager');
    return this.em.transactional((em) => new Workflow(em).confirmReceipt(access.project.id, user.id, sql`t.id = any(${taskIds}::bigint[])`));
  }

  /** The client acknowledges (end state) or rejects (with a reason: back to Label) delivered tasks. */
  async respond(access: ProjectAccess, user: IUser, taskIds: number[], reject: { reason: string } | null): Promise<BulkOutcome> {
    const started = await this.bulk.start(access, user, reject ? 'reject' : 'acknowledge', reject ? { reason: reject.reason } : {}, { ids: taskIds });
    if (started.kind !== 'done') throw new Error('an id selection of at most 5,000 runs at once');
    return started.outcome;
  }

  /** Saves the webhook; returns the signing secret when this call made a new one (the first URL, or a rotation), else null. */
  async updateWebhook(access: ProjectAccess, actor: IUser, input: WebhookSettings): Promise<{ newSecret: string | null }> {
    access.require('admin');
    const url = input.url.trim();
    const hosts = normalizeHosts(input.allowedHosts);
    const project = await this.em.findOneOrFail(Project, { id: access.project.id });
    // opening the internal network to webhooks is the instance's decision, not a project's:
    // a new private or loopback entry needs an instance admin (ones they listed before stay)
    const added = hosts.filter((h) => isInternalHost(h) && !(project.webhookAllowedHosts ?? []).includes(h));
    if (added.length && !actor.isAdmin) {
      throw unprocessable('Only an instance admin may allow private or loopback addresses', {
        allowedHosts: `${added.join(', ')} ${added.length === 1 ? 'is a private or loopback address' : 'are private or loopback addresses'}: ask an instance admin to add ${added.length === 1 ? 'it' : 'them'}`,
      });
    }
    if (url) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw unprocessable('Enter a valid URL', { url: 'Enter a valid http(s) URL' });
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw unprocessable('Enter an http(s) URL', { url: 'Only http and https URLs' });
      const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, '');
      if (!hosts.includes(host)) throw unprocessable(`Add ${host} to the allow-list first`, { allowedHosts: `${host} is not on the allow-list` });
      if (url.length > 2000) throw unprocessable('The URL is too long', { url: 'At most 2,000 characters' });
    }
    project.webhookUrl = url || null;
    project.webhookAllowedHosts = hosts;
    const newSecret = url && (!project.webhookSecret || input.regenerateSecret) ? newWebhookSecret() : null;
    if (newSecret) project.webhookSecret = newSecret;
    await this.em.flush();
    return { newSecret };
  }

  /** Whether the project has a webhook secret (for its admins; the secret itself is shown once, when it is made). */
  async hasSecret(access: ProjectAccess): Promise<boolean> {
    if (!access.canAdminister) return false;
    const project = await this.em.findOneOrFail(Project, { id: access.project.id }, { fields: ['webhookSecret'] });
    return project.webhookSecret != null;
  }

  recentAttempts(access: ProjectAccess): Promise<AttemptRow[]> {
    return this.repo.recentAttempts(access.project.id);
  }

  deliveringCount(access: ProjectAccess): Promise<number> {
    return this.repo.deliveringCount(access.project.id);
  }

  /**
   * One webhook attempt for a completed task (the job's work). Idempotent: a task that is no
   * longer waiting is left alone. A refused target fails at once (no retry); a failed call is
   * recorded and throws, so the job is retried with backoff until the failure policy gives up and
   * calls `fail` (the task then shows up in the API feed instead).
   */
  /** The webhook gave up on a task (its attempts are used up): it is marked failed, with the last attempt's error in its history. */
  async fail(taskId: number, reason: string): Promise<void> {
    const task = await this.repo.pendingTask(taskId);
    if (!task || task.state !== 'completed' || (task.deliveryStatus !== 'pending' && task.deliveryStatus !== 'delivering')) return;
    await this.workflow.deliveryFailed(taskId, task.projectId, (await this.repo.lastAttemptError(taskId)) ?? reason);
  }

  /** An admin retries a failed delivery: the task waits for the webhook again. */
  async reopen(taskId: number): Promise<void> {
    await this.workflow.setDeliveryStatus(taskId, 'pending', 'failed');
  }

  async deliverNow(taskId: number): Promise<'delivered' | 'skipped' | 'refused'> {
    const task = await this.repo.pendingTask(taskId);
    if (!task || task.state !== 'completed' || (task.deliveryStatus !== 'pending' && task.deliveryStatus !== 'delivering')) return 'skipped';
    const project = await this.em.findOne(Project, { id: task.projectId }, { fields: ['name', 'webhookUrl', 'webhookSecret', 'webhookAllowedHosts'] });
    if (!project?.webhookUrl || !project.webhookSecret) {
      await this.workflow.setDeliveryStatus(taskId, null);
      return 'skipped';
    }
    await this.workflow.setDeliveryStatus(taskId, 'delivering');
    const attempt = await this.repo.nextAttempt(taskId);
    const record = (status: 'succeeded' | 'failed', responseStatus: number | null, error: string | null, durationMs: number) =>
      this.repo.recordAttempt({ projectId: task.projectId, taskId, attempt, status, responseStatus, error, url: project.webhookUrl!, durationMs });
    let target;
    try {
      target = await resolveTarget(project.webhookUrl, project.webhookAllowedHosts ?? []);
    } catch (err) {
      if (!(err instanceof WebhookRefused)) throw err;
      await record('failed', null, `refused: ${err.message}`, 0);
      await this.workflow.deliveryFailed(taskId, task.projectId, err.message);
      return 'refused';
    }
    const { projectId, deliveryStatus: _status, ...payload } = task;
    const body = JSON.stringify({ event: 'task.completed', project: { id: projectId, name: project.name }, task: payload, attempt });
    const result = await postSigned(target, body, project.webhookSecret);
    if (result.error === null) {
      await record('succeeded', result.status, null, result.durationMs);
      await this.workflow.deliveredByWebhook(taskId, projectId, project.webhookUrl);
      return 'delivered';
    }
    await record('failed', result.status, result.error, result.durationMs);
    throw new Error(`webhook attempt ${attempt} for task ${taskId} failed: ${result.error}`);
  }
}
