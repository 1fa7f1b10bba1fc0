import type { EntityManager } from '@mikro-orm/postgresql';
import { PREPARED } from '../../db/prepared-statements.ts';
import type { ProjectRole } from '../members/project-member.entity.ts';
import type { Membership, StageInfo } from './project-access.ts';
import { Project, type IProject } from './project.entity.ts';

/**
 * SQL over `projects p` and `project_members m`: the stages the member may work in, and the
 * project's stages in workflow order as JSON. Every statement that loads a project access uses these.
 */
export const MEMBER_STAGE_IDS_SQL = `array(select ms.stage_id from project_member_stages ms where ms.project_member_id = m.id)`;
export const PROJECT_STAGES_SQL = `(select json_agg(json_build_object('id', s.id, 'name', s.name, 'kind', s.kind, 'position', s.position, 'reviewPercent', s.review_percent)
  order by s.position) from stages s where s.project_id = p.id)`;

/** The stages as PROJECT_STAGES_SQL returns them. */
export const stagesFromJson = (json: unknown): StageInfo[] => ((json ?? []) as StageInfo[]).map((s) => ({ ...s, id: Number(s.id) }));

/** Project queries that run on every page and API call. */
export class ProjectsRepository {
  constructor(private readonly em: EntityManager) {}

  /** The project, the user's membership (role, allowed stages) and the project's stages: one prepared round trip. */
  async withMembership(projectId: number, userId: number): Promise<{ project: IProject; membership: Membership | null; stages: StageInfo[] } | null> {
    const [row] = await this.em.getConnection().execute<Array<Record<string, unknown>>>(
      `${PREPARED} select p.*, m.id as access_membership_id, m.role as access_role,
              ${MEMBER_STAGE_IDS_SQL} as access_stage_ids, ${PROJECT_STAGES_SQL} as access_stages
         from projects p left join project_members m on m.project_id = p.id and m.user_id = ?
        where p.id = ?`,
      [userId, projectId],
    );
    if (!row) return null;
    const { access_membership_id: membershipId, access_role: role, access_stage_ids: stageIds, access_stages: stages, ...columns } = row;
    return {
      project: this.em.map(Project, columns) as IProject,
      membership: membershipId == null ? null : { id: Number(membershipId), role: role as ProjectRole, stageIds: (stageIds as string[]).map(Number) },
      stages: stagesFromJson(stages),
    };
  }
}
