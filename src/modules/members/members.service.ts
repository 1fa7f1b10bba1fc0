import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { conflict, notFound, unprocessable } from '../../lib/errors.ts';
import type { ProjectAccess } from '../projects/project-access.ts';
import { Stage, type IStage, type StageKind } from '../stages/stage.entity.ts';
import { User, type IUser } from '../users/user.entity.ts';
import { normalizeEmail } from '../users/user.repository.ts';
import { ProjectMember, type IProjectMember, type ProjectRole } from './project-member.entity.ts';

/** The stages stage access is about: nobody works in Ground Truth (it is terminal). */
export const WORK_STAGE_KINDS: StageKind[] = ['label', 'review'];

export interface MemberInput {
  role: ProjectRole;
  /** Stages the member may work in; empty = all stages. */
  stageIds: number[];
}

export class MembersService {
  constructor(private readonly em: EntityManager) {}

  list(access: ProjectAccess): Promise<IProjectMember[]> {
    return this.em.find(ProjectMember, { project: access.project }, { populate: ['user', 'stages'], orderBy: { user: { name: 'asc' }, id: 'asc' } });
  }

  /** Active users who are not members yet (for the add-member form). */
  async candidates(access: ProjectAccess): Promise<IUser[]> {
    const members = await this.em.find(ProjectMember, { project: access.project }, { fields: ['user'] });
    const ids = members.map((m) => m.user.id);
    return this.em.find(User, { active: true, ...(ids.length ? { id: { $nin: ids } } : {}) }, { orderBy: { name: 'asc' } });
  }

  async add(access: ProjectAccess, email: string, input: MemberInput): Promise<IProjectMember> {
    const user = await this.em.findOne(User, { email: normalizeEmail(email), active: true });
    if (!user) throw unprocessable('No active user has this email', { email: 'No active user has this email' });
    if (await this.em.findOne(ProjectMember, { project: access.project, user })) {
      throw conflict('This user is already a member', { email: 'This user is already a member' });
    }
    // everything is checked before the entity exists: a later query would auto-flush it
    const stages = await this.workStages(access, input.stageIds);
    const member = this.em.create(ProjectMember, { project: access.project, user, role: input.role });
    member.stages.set(stages);
    try {
      await this.em.flush();
    } catch (err) {
      // added at the same moment by another admin
      if (err instanceof UniqueConstraintViolationException) throw conflict('This user is already a member', { email: 'This user is already a member' });
      throw err;
    }
    return member;
  }

  async update(access: ProjectAccess, memberId: number, input: MemberInput): Promise<IProjectMember> {
    const member = await this.get(access, memberId);
    if (input.role !== 'admin') this.refuseSelfLockout(access, member, 'change your own role');
    const stages = await this.workStages(access, input.stageIds);
    member.role = input.role;
    member.stages.set(stages);
    await this.em.flush();
    return member;
  }

  async remove(access: ProjectAccess, memberId: number): Promise<IProjectMember> {
    const member = await this.get(access, memberId);
    this.refuseSelfLockout(access, member, 'remove yourself');
    this.em.remove(member);
    await this.em.flush();
    return member;
  }

  /** A project admin (not an instance admin) would lock themselves out of these pages. */
  private refuseSelfLockout(access: ProjectAccess, member: IProjectMember, what: string): void {
    if (access.membership?.id === member.id && !member.user.isAdmin && member.role === 'admin') {
      throw conflict(`You cannot ${what}: ask another project admin or an instance admin to do it.`);
    }
  }

  async get(access: ProjectAccess, memberId: number): Promise<IProjectMember> {
    const member = await this.em.findOne(ProjectMember, { id: memberId, project: access.project }, { populate: ['stages', 'user'] });
    if (!member) throw notFound('No such member');
    return member;
  }

  /** The label and review stages of the project with these ids (Ground Truth is terminal: nobody works in it). */
  private async workStages(access: ProjectAccess, stageIds: number[]): Promise<IStage[]> {
    const stages = stageIds.length ? await this.em.find(Stage, { id: { $in: stageIds }, project: access.project, kind: { $in: WORK_STAGE_KINDS } }) : [];
    if (stages.length !== new Set(stageIds).size) throw unprocessable('Unknown stage', { stageIds: 'Unknown stage' });
    return stages;
  }
}
