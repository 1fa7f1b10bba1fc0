import type { IProjectMember, ProjectRole } from '../members/project-member.entity.ts';
import type { IProject } from './project.entity.ts';

const RANK: Record<ProjectRole, number> = { member: 1, manager: 2, admin: 3 };

/** A project as seen by one user: loaded only through what that user may access. */
export class ProjectAccess {
  constructor(
    readonly project: IProject,
    /** Instance admins are project admins everywhere, member or not. */
    readonly role: ProjectRole,
    readonly membership: IProjectMember | null,
  ) {}

  atLeast(role: ProjectRole): boolean {
    return RANK[this.role] >= RANK[role];
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
