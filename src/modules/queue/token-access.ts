import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { PREPARED } from '../../db/prepared-statements.ts';
import { notFound, TOKEN_REQUIRED, unauthorized } from '../../lib/errors.ts';
import { sha256 } from '../../lib/secrets.ts';
import type { ProjectRole } from '../members/project-member.entity.ts';
import type { StageInfo } from '../projects/project-access.ts';
import type { OutputField } from '../projects/project.entity.ts';
import { MEMBER_STAGE_IDS_SQL, PROJECT_STAGES_SQL, stagesFromJson } from '../projects/projects.repository.ts';

/**
 * An API token's user and their access to one project, read in ONE statement with no ORM
 * hydration: the hot work routes (request next, finalize) spend their round trips on work. The
 * token's last use is recorded in the same statement, at most once a minute.
 */
export interface TokenAccess {
  userId: number;
  projectId: number;
  projectName: string;
  role: ProjectRole;
  /** the stages a member may work in; empty means every stage */
  memberStageIds: number[];
  queueSize: number;
  autoAssign: boolean;
  reservationMinutes: number;
  webhook: boolean;
  outputSchema: OutputField[];
  stages: StageInfo[];
}

/** The bearer token of a request, or 401. */
export function bearerToken(header: string | undefined): string {
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) throw unauthorized(TOKEN_REQUIRED);
  return match[1];
}

export async function tokenAccess(em: EntityManager, token: string, projectId: number): Promise<TokenAccess> {
  const hash = sha256(token);
  const { rows } = await sql<Record<string, any>>`${sql.raw(PREPARED)}
    with k as (
      select k.id, u.id as user_id, u.is_admin, coalesce(k.last_used_at > now() - interval '1 minute', false) as fresh
      from api_tokens k join users u on u.id = k.user_id
      where k.token_hash = ${hash}::text and k.revoked_at is null and u.active
    ),
    touched as (update api_tokens set last_used_at = now() where id = (select id from k where not fresh))
    select k.user_id, k.is_admin, p.id as project_id, p.name, p.queue_size, p.auto_assign, p.reservation_minutes,
           p.webhook_url is not null as webhook, p.output_schema, m.role,
           ${sql.raw(MEMBER_STAGE_IDS_SQL)} as member_stage_ids, ${sql.raw(PROJECT_STAGES_SQL)} as stages
    from k
    left join projects p on p.id = ${projectId}::bigint
    left join project_members m on m.project_id = p.id and m.user_id = k.user_id`.execute(em.getKysely());
  const r = rows[0];
  if (!r) throw unauthorized(TOKEN_REQUIRED);
  if (r.project_id === null || (r.role === null && !r.is_admin)) throw notFound('No such project');
  return {
    userId: Number(r.user_id), projectId: Number(r.project_id), projectName: r.name,
    role: r.is_admin ? 'admin' : r.role, memberStageIds: r.is_admin ? [] : (r.member_stage_ids as string[]).map(Number),
    queueSize: r.queue_size, autoAssign: r.auto_assign, reservationMinutes: r.reservation_minutes, webhook: r.webhook,
    outputSchema: r.output_schema ?? [],
    stages: stagesFromJson(r.stages),
  };
}
