import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import { PREPARED } from '../../db/prepared-statements.ts';
import type { AssignmentKind } from '../tasks/task.entity.ts';
import type { HandedOutSqlRow } from '../workflow/claim-sql.ts';

/** A task locked for an action, with its open assignment (if any). */
export interface WorkRow {
  id: number;
  name: string;
  projectId: number;
  stageId: number;
  state: string;
  priority: number;
  priorityScore: string | null;
  data: Record<string, unknown>;
  metadata: Record<string, string>;
  hasOpenIssue: boolean;
  held: boolean;
  assignmentId: number | null;
  assigneeId: number | null;
  assigneeName: string | null;
  status: string | null;
  kind: AssignmentKind | null;
  issueComment: string | null;
  issueResponse: string | null;
  deliveryStatus: string | null;
}

export interface AnswerSetRow {
  id: number;
  version: number;
  answers: Record<string, unknown>;
  kind: string;
  userName: string | null;
  stageName: string | null;
  updatedAt: Date;
}

export interface QueueRow {
  id: number;
  name: string;
  stageId: number;
  stageName: string;
  stageKind: string;
  status: string;
  kind: string;
  priority: number;
  priorityScore: string | null;
  state: string;
  since: Date;
}

export interface QueueCounts {
  /** assigned and saved */
  open: number;
  pending: number;
  skipped: number;
}

/** A stage as the API names it. */
export interface StageRef {
  id: number;
  name: string;
}

export interface IssueRow {
  id: number;
  name: string;
  stageId: number;
  stageName: string;
  priority: number;
  assigneeId: number;
  assigneeName: string;
  comment: string | null;
  raisedAt: Date;
}

export interface HolderRow {
  userId: number;
  name: string;
  email: string;
  total: number;
  reserved: number;
  assigned: number;
  saved: number;
  pending: number;
  skipped: number;
  issue: number;
  oldest: Date;
}

export interface HeldTaskRow {
  id: number;
  name: string;
  stageId: number;
  stageName: string;
  status: string;
  kind: string;
  priority: number;
  since: Date;
  leaseExpiresAt: Date | null;
}

export interface HandedOutRow {
  id: number;
  name: string;
  stage: StageRef;
  state: string;
  status: string;
  kind: string;
  priority: number;
  priorityScore: string | null;
  data: unknown;
  metadata: Record<string, string>;
  leaseExpiresAt: Date | null;
  version: number;
}

const num = (v: unknown): number => Number(v);
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A task as request next hands it out (claimed or the user's own). */
export function handedOut(r: HandedOutSqlRow, stage: StageRef): HandedOutRow {
  return {
    id: num(r.id), name: r.name, stage, state: r.state, status: r.assignment_status, kind: r.assignment_kind,
    priority: num(r.priority), priorityScore: r.priority_score, data: r.data, metadata: r.metadata ?? {},
    leaseExpiresAt: dateOrNull(r.lease_expires_at), version: num(r.version),
  };
}

/** The queries of queues and work pages (their writes are the workflow's). */
export class QueueRepository {
  constructor(readonly em: EntityManager) {}

  private get db() {
    return this.em.getKysely();
  }

  /** How many tasks of each My queue group the user holds in the project. */
  async myQueueCounts(projectId: number, userId: number): Promise<QueueCounts> {
    const { rows } = await sql<Record<string, string>>`
      select count(*) filter (where assignment_status in ('assigned', 'saved')) as open,
             count(*) filter (where assignment_status = 'pending_finalization') as pending,
             count(*) filter (where assignment_status = 'skipped') as skipped
      from tasks where assignee_id = ${userId}::bigint and project_id = ${projectId}::bigint and archive_id is null
        and assignment_status in ('assigned', 'saved', 'pending_finalization', 'skipped')`.execute(this.db);
    const r = rows[0];
    return { open: num(r.open), pending: num(r.pending), skipped: num(r.skipped) };
  }

  /** The user's open work in the project: SPEC §4 groups (assigned + saved, pending, skipped), each in allocation order; one page of it. */
  async myQueue(projectId: number, userId: number, limit = 500, offset = 0): Promise<QueueRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.name, t.stage_id, s.name as stage_name, s.kind as stage_kind, t.assignment_status, t.assignment_kind,
             t.priority, trim_scale(t.priority_score)::text as priority_score, t.state, a.created_at
      from tasks t
      join stages s on s.id = t.stage_id
      join assignments a on a.id = t.assignment_id
      where t.assignee_id = ${userId}::bigint and t.project_id = ${projectId}::bigint and t.archive_id is null
        and t.assignment_status in ('assigned', 'saved', 'pending_finalization', 'skipped')
      order by case t.assignment_status when 'pending_finalization' then 1 when 'skipped' then 2 else 0 end,
               s.position, t.priority, t.priority_score desc nulls last, t.created_at, t.id
      limit ${limit}::int offset ${offset}::int`.execute(this.db);
    return rows.map((r) => ({
      id: num(r.id), name: String(r.name), stageId: num(r.stage_id), stageName: String(r.stage_name), stageKind: String(r.stage_kind),
      status: String(r.assignment_status), kind: String(r.assignment_kind), priority: num(r.priority),
      priorityScore: (r.priority_score as string | null) ?? null, state: String(r.state), since: date(r.created_at),
    }));
  }

  /** The task and its open assignment; `lock` takes the row lock for an action. */
  async work(projectId: number, taskId: number, { lock = false } = {}): Promise<WorkRow | null> {
    const { rows } = await sql<Record<string, unknown>>`${sql.raw(PREPARED)}
      select t.id, t.name, t.project_id, t.stage_id, t.state, t.priority, trim_scale(t.priority_score)::text as priority_score,
             t.data, t.metadata, t.has_open_issue, t.held, t.assignment_id, t.assignee_id, u.name as assignee_name,
             a.status, a.kind, a.issue_comment, a.issue_response, t.delivery_status
      from tasks t
      left join assignments a on a.id = t.assignment_id
      left join users u on u.id = t.assignee_id
      where t.id = ${taskId}::bigint and t.project_id = ${projectId}::bigint and t.archive_id is null
      ${lock ? sql`for update of t` : sql``}`.execute(this.db);
    const r = rows[0];
    if (!r) return null;
    return {
      id: num(r.id), name: String(r.name), projectId: num(r.project_id), stageId: num(r.stage_id), state: String(r.state),
      priority: num(r.priority), priorityScore: (r.priority_score as string | null) ?? null,
      data: (r.data as Record<string, unknown>) ?? {}, metadata: (r.metadata as Record<string, string>) ?? {},
      hasOpenIssue: Boolean(r.has_open_issue), held: Boolean(r.held),
      assignmentId: numOrNull(r.assignment_id), assigneeId: numOrNull(r.assignee_id), assigneeName: (r.assignee_name as string | null) ?? null,
      status: (r.status as string | null) ?? null, kind: (r.kind as AssignmentKind | null) ?? null,
      issueComment: (r.issue_comment as string | null) ?? null, issueResponse: (r.issue_response as string | null) ?? null,
      deliveryStatus: (r.delivery_status as string | null) ?? null,
    };
  }

  /** The answer set of the task's open assignment, if any. */
  async openAnswerSet(taskId: number): Promise<AnswerSetRow | null> {
    return this.oneAnswerSet(sql`a.assignment_id = (select t.assignment_id from tasks t where t.id = ${taskId}::bigint)`);
  }

  /** The answer set of an assignment (its draft), if any. */
  async answerSetOf(assignmentId: number): Promise<AnswerSetRow | null> {
    return this.oneAnswerSet(sql`a.assignment_id = ${assignmentId}::bigint`);
  }

  /**
   * The answers a new assignment starts from: the newest submitted submission or correction of
   * the task, else the default (model) answers from the upload.
   */
  async prefill(taskId: number): Promise<AnswerSetRow | null> {
    return (
      (await this.oneAnswerSet(sql`a.task_id = ${taskId}::bigint and a.kind in ('submission', 'correction') and a.submitted`)) ??
      (await this.oneAnswerSet(sql`a.task_id = ${taskId}::bigint and a.kind = 'default'`))
    );
  }

  private async oneAnswerSet(where: RawBuilder<unknown>): Promise<AnswerSetRow | null> {
    const { rows } = await sql<Record<string, unknown>>`
      select a.id, a.version, a.answers, a.kind, u.name as user_name, s.name as stage_name, a.updated_at
      from answer_sets a left join users u on u.id = a.user_id left join stages s on s.id = a.stage_id
      where ${where} order by a.id desc limit 1`.execute(this.db);
    const r = rows[0];
    if (!r) return null;
    return {
      id: num(r.id), version: num(r.version), answers: (r.answers as Record<string, unknown>) ?? {}, kind: String(r.kind),
      userName: (r.user_name as string | null) ?? null, stageName: (r.stage_name as string | null) ?? null, updatedAt: date(r.updated_at),
    };
  }

  /**
   * Saves answers on the assignment's answer set if its version is still `version` (0 = none yet):
   * one upsert. Returns the new version, or null when the version is stale.
   */
  async saveAnswers(row: { taskId: number; stageId: number; assignmentId: number; userId: number; kind: 'submission' | 'correction'; answers: Record<string, unknown>; version: number }): Promise<number | null> {
    const answers = JSON.stringify(row.answers);
    // version 0: the first save inserts (a concurrent first save makes the upsert find the row at version ≥ 1: stale)
    const { rows } = row.version === 0
      ? await sql<{ version: number }>`${sql.raw(PREPARED)}
          insert into answer_sets (task_id, stage_id, assignment_id, user_id, kind, answers, version)
          values (${row.taskId}::bigint, ${row.stageId}::bigint, ${row.assignmentId}::bigint, ${row.userId}::bigint, ${row.kind}::text, ${answers}::jsonb, 1)
          on conflict (assignment_id) do update set answers = excluded.answers, version = answer_sets.version + 1, updated_at = now()
            where answer_sets.version = 0
          returning version`.execute(this.db)
      : await sql<{ version: number }>`${sql.raw(PREPARED)}
          update answer_sets set answers = ${answers}::jsonb, version = version + 1, updated_at = now()
          where assignment_id = ${row.assignmentId}::bigint and version = ${row.version}::int
          returning version`.execute(this.db);
    return rows[0] ? Number(rows[0].version) : null;
  }

  /** The reason of the newest review rejection (shown to the labeler who gets the task back). */
  async lastRejection(taskId: number): Promise<{ note: string | null; actor: string | null; at: Date } | null> {
    const { rows } = await sql<Record<string, unknown>>`select e.note, u.name, e.created_at from task_events e left join users u on u.id = e.actor_id
      where e.task_id = ${taskId}::bigint and e.kind in ('review_rejected', 'rejected') order by e.id desc limit 1`.execute(this.db);
    const r = rows[0];
    return r ? { note: (r.note as string | null) ?? null, actor: (r.name as string | null) ?? null, at: date(r.created_at) } : null;
  }

  /** The user's pending drafts in the project (for "Finalize all"). */
  async pendingIds(projectId: number, userId: number): Promise<number[]> {
    const { rows } = await sql<{ id: string }>`select id::text as id from tasks where assignee_id = ${userId}::bigint
      and project_id = ${projectId}::bigint and archive_id is null and assignment_status = 'pending_finalization' order by id`.execute(this.db);
    return rows.map((r) => num(r.id));
  }

  async openIssues(projectId: number, limit = 500): Promise<IssueRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.name, t.stage_id, s.name as stage_name, t.priority, t.assignee_id, u.name as assignee_name, a.issue_comment, a.updated_at
      from tasks t join stages s on s.id = t.stage_id join assignments a on a.id = t.assignment_id join users u on u.id = t.assignee_id
      where t.project_id = ${projectId}::bigint and t.has_open_issue and t.archive_id is null
      order by a.updated_at, t.id limit ${limit}::int`.execute(this.db);
    return rows.map((r) => ({
      id: num(r.id), name: String(r.name), stageId: num(r.stage_id), stageName: String(r.stage_name), priority: num(r.priority), assigneeId: num(r.assignee_id),
      assigneeName: String(r.assignee_name), comment: (r.issue_comment as string | null) ?? null, raisedAt: date(r.updated_at),
    }));
  }

  /** One row per user holding open work in the project, oldest hold first. */
  async holders(projectId: number): Promise<HolderRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select u.id, u.name, u.email, count(*)::int as total,
             count(*) filter (where t.assignment_kind = 'reserved')::int as reserved,
             count(*) filter (where t.assignment_status = 'assigned')::int as assigned,
             count(*) filter (where t.assignment_status = 'saved')::int as saved,
             count(*) filter (where t.assignment_status = 'pending_finalization')::int as pending,
             count(*) filter (where t.assignment_status = 'skipped')::int as skipped,
             count(*) filter (where t.assignment_status = 'issue')::int as issue,
             min(a.created_at) as oldest
      from tasks t join users u on u.id = t.assignee_id join assignments a on a.id = t.assignment_id
      where t.project_id = ${projectId}::bigint and t.archive_id is null and t.assignee_id is not null
      group by u.id, u.name, u.email
      order by oldest, u.id`.execute(this.db);
    return rows.map((r) => ({
      userId: num(r.id), name: String(r.name), email: String(r.email), total: num(r.total), reserved: num(r.reserved),
      assigned: num(r.assigned), saved: num(r.saved), pending: num(r.pending), skipped: num(r.skipped), issue: num(r.issue), oldest: date(r.oldest),
    }));
  }

  async heldBy(projectId: number, userId: number, limit = 500): Promise<HeldTaskRow[]> {
    const { rows } = await sql<Record<string, unknown>>`
      select t.id, t.name, t.stage_id, s.name as stage_name, t.assignment_status, t.assignment_kind, t.priority, a.created_at, t.lease_expires_at
      from tasks t join stages s on s.id = t.stage_id join assignments a on a.id = t.assignment_id
      where t.assignee_id = ${userId}::bigint and t.project_id = ${projectId}::bigint and t.archive_id is null
      order by a.created_at, t.id limit ${limit}::int`.execute(this.db);
    return rows.map((r) => ({
      id: num(r.id), name: String(r.name), stageId: num(r.stage_id), stageName: String(r.stage_name), status: String(r.assignment_status), kind: String(r.assignment_kind),
      priority: num(r.priority), since: date(r.created_at), leaseExpiresAt: dateOrNull(r.lease_expires_at),
    }));
  }
}
