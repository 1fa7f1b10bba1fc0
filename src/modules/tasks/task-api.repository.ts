import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type RawBuilder } from 'kysely';
import type { TaskFilter } from '../selection/task-filter.ts';
import { taskWhere, type TaskListScope } from '../selection/task-where.ts';

/** A task as the JSON API returns it. */
export interface ApiTask {
  id: number;
  name: string;
  state: string;
  stage: { id: number; name: string };
  priority: number;
  priorityScore: string | null;
  clientBatchId: string | null;
  held: boolean;
  hasOpenIssue: boolean;
  assignee: { id: number; name: string; email: string } | null;
  assignmentStatus: string | null;
  assignmentKind: string | null;
  uploadId: number | null;
  createdAt: string;
  lastSubmittedAt: string | null;
  data: unknown;
  metadata: Record<string, string>;
}

export interface ApiAssignment {
  id: number;
  stage: { id: number; name: string };
  user: { id: number; name: string; email: string };
  status: string;
  kind: string;
  createdAt: string;
  finalizedAt: string | null;
}

const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);

function toApiTask(r: Record<string, unknown>): ApiTask {
  return {
    id: Number(r.id),
    name: r.name as string,
    state: r.state as string,
    stage: { id: Number(r.stage_id), name: r.stage_name as string },
    priority: Number(r.priority),
    priorityScore: (r.priority_score as string | null) ?? null,
    clientBatchId: (r.client_batch_id as string | null) ?? null,
    held: Boolean(r.held),
    hasOpenIssue: Boolean(r.has_open_issue),
    assignee: r.assignee_id ? { id: Number(r.assignee_id), name: r.assignee_name as string, email: r.assignee_email as string } : null,
    assignmentStatus: (r.assignment_status as string | null) ?? null,
    assignmentKind: (r.assignment_kind as string | null) ?? null,
    uploadId: r.upload_id == null ? null : Number(r.upload_id),
    createdAt: iso(r.created_at)!,
    lastSubmittedAt: iso(r.last_submitted_at),
    data: r.data,
    metadata: (r.metadata as Record<string, string>) ?? {},
  };
}

const SELECT = sql`
  select t.id, t.name, t.state, t.stage_id, s.name as stage_name, t.priority, trim_scale(t.priority_score)::text as priority_score,
         t.client_batch_id, t.held, t.has_open_issue, t.assignee_id, u.name as assignee_name, u.email as assignee_email,
         t.assignment_status, t.assignment_kind, t.upload_id, t.created_at, t.last_submitted_at, t.data, t.metadata
  from tasks t
  join stages s on s.id = t.stage_id
  left join users u on u.id = t.assignee_id`;

/** Queries of the task API: filtered lists in id order with a keyset cursor, and single tasks. */
export class TaskApiRepository {
  constructor(private readonly em: EntityManager) {}

  /** Up to `limit` tasks after `afterId`, plus whether more follow. */
  async list(scope: TaskListScope, filter: TaskFilter, afterId: number, limit: number): Promise<{ tasks: ApiTask[]; more: boolean }> {
    const where: RawBuilder<unknown> = taskWhere(scope, filter);
    const { rows } = await sql<Record<string, unknown>>`${SELECT} where ${where} and t.id > ${afterId} order by t.id limit ${limit + 1}`
      .execute(this.em.getKysely());
    return { tasks: rows.slice(0, limit).map(toApiTask), more: rows.length > limit };
  }

  /** One task of the project, if the scope lets the viewer see it. */
  async get(scope: TaskListScope, taskId: number): Promise<(ApiTask & { assignments: ApiAssignment[] }) | null> {
    const db = this.em.getKysely();
    const visible = scope.onlyAssignedToViewer ? sql`and t.assignee_id = ${scope.viewerId}` : sql``;
    const { rows } = await sql<Record<string, unknown>>`
      ${SELECT} where t.project_id = ${scope.projectId} and t.id = ${taskId} and t.archive_id is null ${visible}`.execute(db);
    if (!rows.length) return null;
    const { rows: assignments } = await sql<Record<string, unknown>>`
      select a.id, a.stage_id, s.name as stage_name, u.id as user_id, u.name as user_name, u.email as user_email, a.status, a.kind, a.created_at, a.finalized_at
      from assignments a join stages s on s.id = a.stage_id join users u on u.id = a.user_id
      where a.task_id = ${taskId} order by a.id`.execute(db);
    return {
      ...toApiTask(rows[0]),
      assignments: assignments.map((a) => ({
        id: Number(a.id),
        stage: { id: Number(a.stage_id), name: a.stage_name as string },
        user: { id: Number(a.user_id), name: a.user_name as string, email: a.user_email as string },
        status: a.status as string,
        kind: a.kind as string,
        createdAt: iso(a.created_at)!,
        finalizedAt: iso(a.finalized_at),
      })),
    };
  }
}
