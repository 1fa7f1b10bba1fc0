import { forbidden } from '../../lib/errors.ts';
import type { ProjectRole } from '../members/project-member.entity.ts';
import type { StageKind } from '../stages/stage.entity.ts';
import type { IProject } from './project.entity.ts';

const RANK: Record<ProjectRole, number> = { member: 1, manager: 2, admin: 3 };

/** A stage as the workflow needs it (loaded with the access: every task page and action needs them). */
export interface StageInfo {
  id: number;
  name: string;
  kind: StageKind;
  position: number;
  reviewPercent: number;
}

/** The user's own membership of the project (instance admins may have none). */
export interface Membership {
  id: number;
  role: ProjectRole;
  /** the stages a member may work in; empty means every stage */
  stageIds: number[];
}

/** A project as seen by one user: loaded only through what that user may access. */
export class ProjectAccess {
  constructor(
    readonly project: IProject,
    /** Instance admins are project admins everywhere, member or not. */
    readonly role: ProjectRole,
    readonly membership: Membership | null,
    /** the project's stages in workflow order */
    readonly stages: StageInfo[],
  ) {}

  atLeast(role: ProjectRole): boolean {
    return RANK[this.role] >= RANK[role];
  }

  /**
   * Refuses what the user's role does not allow with 403 naming the role needed. The project is
   * one the user can see, so saying so gives nothing away; outside their access it is a 404.
   */
  require(role: ProjectRole): this {
    if (!this.atLeast(role)) {
      const needed = role === 'admin' ? 'the admin role' : 'the manager or admin role';
      throw forbidden(`This needs ${needed} in ${this.project.name}. Your role here is ${this.role}.`);
    }
    return this;
  }

  /** Admins and managers manage tasks, uploads, assignment, exports and archives. */
  get canManageTasks(): boolean {
    return this.atLeast('manager');
  }

  /** Only project admins change settings and members. */
  get canAdminister(): boolean {
    return this.atLeast('admin');
  }
}
