import type { EntityManager } from '@mikro-orm/postgresql';
import { PREPARED } from '../../db/prepared-statements.ts';
import type { ProjectRole } from '../members/project-member.entity.ts';
import type { Membership, StageInfo } from './project-access.ts';
import { Project, type IProject } from './project.entity.ts';

/** Project queries that run on every page and API call. */
export class ProjectsRepository {
  constructor(private readonly em: EntityManager) {}

  /** The project, the user's membership (role, allowed stages) and the project's stages: one prepared round trip. */
  async withMembership(projectId: number, userId: number): Promise<{ project: IProject; membership: Membership | null; stages: StageInfo[] } | null> {
    const [row] = await this.em.getConnection().execute<Array<Record<string, unknown>>>(
      `${PREPARED} select p.*, m.id as access_membership_id, m.role as access_role,
              array(select ms.stage_id from project_member_stages ms where ms.project_member_id = m.id) as access_stage_ids,
              (select json_agg(json_build_object('id', s.id, 'name', s.name, 'kind', s.kind, 'position', s.position, 'reviewPercent', s.review_percent)
                               order by s.position) from stages s where s.project_id = p.id) as access_stages
         from projects p left join project_members m on m.project_id = p.id and m.user_id = ?
        where p.id = ?`,
      [userId, projectId],
    );
    if (!row) return null;
    const { access_membership_id: membershipId, access_role: role, access_stage_ids: stageIds, access_stages: stages, ...columns } = row;
    return {
      project: this.em.map(Project, columns) as IProject,
      membership: membershipId == null ? null : { id: Number(membershipId), role: role as ProjectRole, stageIds: (stageIds as string[]).map(Number) },
      stages: ((stages ?? []) as StageInfo[]).map((s) => ({ ...s, id: Number(s.id) })),
    };
  }
}
