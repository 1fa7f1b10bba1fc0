import { LockMode, UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { conflict, forbidden, notFound, unprocessable } from '../../lib/errors.ts';
import { ProjectMember, type ProjectRole } from '../members/project-member.entity.ts';
import { Stage, type IStage } from '../stages/stage.entity.ts';
import { Task } from '../tasks/task.entity.ts';
import { Assignment } from '../assignments/assignment.entity.ts';
import { AnswerSet } from '../answers/answer-set.entity.ts';
import { User, type IUser } from '../users/user.entity.ts';
import { ProjectAccess } from './project-access.ts';
import { ProjectsRepository } from './projects.repository.ts';
import { Project, type InputField, type IProject, type OutputField } from './project.entity.ts';

export interface ProjectSummary {
  project: IProject;
  role: ProjectRole;
  memberCount: number;
  stageNames: string[];
}

export interface ProjectSettingsInput {
  name: string;
  slug: string;
  description?: string;
  instructionsUrl?: string;
  autoAssign: boolean;
  queueSize: number;
  reservationMinutes: number;
  autoArchiveAfterDays?: number;
  /** review percentages by stage id */
  reviewPercents: Record<number, number>;
}

export const GROUND_TRUTH = 'Ground Truth';
export const MAX_REVIEW_STAGES = 10;

export function slugify(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'project'
  );
}

export class ProjectsService {
  constructor(private readonly em: EntityManager) {}

  /** The project as the user may see it (else 404), with at least the role needed (else 403, naming it). */
  async access(user: IUser, projectId: number, needed: ProjectRole = 'member'): Promise<ProjectAccess> {
    if (!Number.isSafeInteger(projectId) || projectId <= 0) throw notFound('No such project');
    const found = await new ProjectsRepository(this.em).withMembership(projectId, user.id);
    if (!found || (!found.membership && !user.isAdmin)) throw notFound('No such project');
    const access = new ProjectAccess(found.project, user.isAdmin ? 'admin' : found.membership!.role, found.membership, found.stages);
    return access.require(needed);
    return access;
  }

  /**
   * The access of whoever started a background job, checked again when the job runs: a user who
   * was deactivated or lost their role meanwhile ends the job with a clear reason.
   */
  async accessOfJobOwner(owner: { id: number } | null | undefined, projectId: number): Promise<{ actor: IUser; access: ProjectAccess }> {
    const actor = owner ? await this.em.findOne(User, { id: owner.id, active: true }) : null;
    if (!actor) throw unprocessable('The user who started this no longer exists or is deactivated');
    const access = await this.access(actor, projectId).catch(() => {
      throw forbidden('The user who started this is no longer a member of the project');
    });
    if (!access.canManageTasks) throw forbidden('The user who started this may no longer manage the project\'s tasks');
    return { actor, access };
  }

  async listFor(user: IUser): Promise<ProjectSummary[]> {
    const memberships = await this.em.find(ProjectMember, { user: user.id }, { populate: ['project'] });
    const roles = new Map(memberships.map((m) => [m.project.id, m.role]));
    const projects = user.isAdmin
      ? await this.em.find(Project, {}, { orderBy: { name: 'asc', id: 'asc' } })
      : memberships.map((m) => m.project as IProject).sort((a, b) => a.name.localeCompare(b.name));
    if (projects.length === 0) return [];
    const ids = projects.map((p) => p.id);
    const stages = await this.em.find(Stage, { project: { $in: ids } }, { orderBy: { position: 'asc' } });
    const members = await this.em.find(ProjectMember, { project: { $in: ids } }, { fields: ['project'] });
    const memberCount = new Map<number, number>();
    for (const m of members) memberCount.set(m.project.id, (memberCount.get(m.project.id) ?? 0) + 1);
    return projects.map((project) => ({
      project,
      role: user.isAdmin ? 'admin' : roles.get(project.id)!,
      memberCount: memberCount.get(project.id) ?? 0,
      stageNames: stages.filter((s) => s.project.id === project.id).map((s) => s.name),
    }));
  }

  /** Creates the project with Label → Review_1..n → Ground Truth and its creator as admin. */
  async create(user: IUser, input: { name: string; description?: string; reviewStages: number }): Promise<IProject> {
    return this.em.transactional(async (em) => {
      const project = em.create(Project, {
        name: input.name,
        slug: await this.uniqueSlug(em, slugify(input.name)),
        description: input.description ?? '',
        createdBy: user.id,
      });
      const names = ['Label', ...Array.from({ length: input.reviewStages }, (_, i) => `Review_${i + 1}`), GROUND_TRUTH];
      names.forEach((name, position) => {
        const kind = position === 0 ? 'label' : name === GROUND_TRUTH ? 'ground_truth' : 'review';
        em.create(Stage, { project, name, kind, position, reviewPercent: 100 });
      });
      em.create(ProjectMember, { project, user: user.id, role: 'admin' });
      await em.flush();
      return project;
    });
  }

  stages(project: IProject): Promise<IStage[]> {
    return this.em.find(Stage, { project }, { orderBy: { position: 'asc' } });
  }

  async updateSettings(access: ProjectAccess, input: ProjectSettingsInput): Promise<void> {
    const project = access.project;
    const slug = slugify(input.slug);
    const taken = () => conflict('This slug is taken by another project', { slug: 'This slug is taken by another project' });
    if (await this.em.findOne(Project, { slug, id: { $ne: project.id } })) throw taken();
    // queried before any change: a query after it would auto-flush outside the try below
    const stages = await this.stages(project);
    Object.assign(project, {
      name: input.name,
      slug,
      description: input.description ?? '',
      instructionsUrl: input.instructionsUrl || null,
      autoAssign: input.autoAssign,
      queueSize: input.queueSize,
      reservationMinutes: input.reservationMinutes,
      autoArchiveAfterDays: input.autoArchiveAfterDays ?? null,
    });
    for (const stage of stages) {
      const percent = input.reviewPercents[stage.id];
      if (stage.kind === 'review' && percent !== undefined) stage.reviewPercent = percent;
    }
    try {
      await this.em.flush();
    } catch (err) {
      // a concurrent save took the slug between the check and the write
      if (err instanceof UniqueConstraintViolationException) throw taken();
      throw err;
    }
  }

  /** Appends Review_<n+1> just before Ground Truth. */
  async addReviewStage(access: ProjectAccess, reviewPercent = 100): Promise<IStage> {
    return this.em.transactional(async (em) => {
      // stage changes of one project run one at a time
      await em.findOne(Project, { id: access.project.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const stages = await em.find(Stage, { project: access.project }, { orderBy: { position: 'asc' } });
      const reviews = stages.filter((s) => s.kind === 'review');
      if (reviews.length >= MAX_REVIEW_STAGES) throw conflict(`A project has at most ${MAX_REVIEW_STAGES} review stages.`);
      const groundTruth = stages.find((s) => s.kind === 'ground_truth')!;
      const number = reviews.reduce((max, s) => Math.max(max, Number(s.name.split('_')[1]) || 0), 0) + 1;
      const position = groundTruth.position;
      groundTruth.position = position + 1; // the position constraint is deferred to commit
      const stage = em.create(Stage, { project: access.project, name: `Review_${number}`, kind: 'review', position, reviewPercent });
      await em.flush();
      return stage;
    });
  }

  /**
   * Removes a review stage no task has ever been in; otherwise it can only be disabled (0 %).
   * Members whose stage access is only this stage would silently gain every stage: refused too.
   */
  async removeReviewStage(access: ProjectAccess, stageId: number): Promise<IStage> {
    return this.em.transactional(async (em) => {
      const stage = await this.lockedReviewStage(em, access, stageId);
      const used = (await em.count(Task, { stage })) + (await em.count(Assignment, { stage })) + (await em.count(AnswerSet, { stage }));
      if (used > 0) {
        throw conflict(`${stage.name} cannot be removed because tasks have been in it. Set its review percentage to 0 to disable it instead.`);
      }
      const [{ n }] = await em.getConnection().execute<{ n: string }[]>(
        `select count(*) as n from project_member_stages pms
          where pms.stage_id = ?
            and not exists (select 1 from project_member_stages o where o.project_member_id = pms.project_member_id and o.stage_id <> pms.stage_id)`,
        [stage.id],
      );
      if (Number(n) > 0) {
        throw conflict(`${stage.name} cannot be removed while members may work only in it. Change their stage access on the Members page first.`);
      }
      const later = await em.find(Stage, { project: access.project, position: { $gt: stage.position } });
      em.remove(stage);
      for (const s of later) s.position -= 1;
      await em.flush();
      return stage;
    });
  }

  /** Sets the share of tasks a review stage samples (0 disables it), as the settings page does for each. */
  async setReviewPercent(access: ProjectAccess, stageId: number, reviewPercent: number): Promise<IStage> {
    return this.em.transactional(async (em) => {
      const stage = await this.lockedReviewStage(em, access, stageId);
      stage.reviewPercent = reviewPercent;
      await em.flush();
      return stage;
    });
  }

  /**
   * A review stage of the project, with the project locked: stage changes of one project run one at
   * a time. The stage is locked `for update`: a transition into it holds it `for key share`
   * (workflow/stage-lock.ts), so a removal's counts see every task that entered it, or the
   * transition finds it gone.
   */
  private async lockedReviewStage(em: EntityManager, access: ProjectAccess, stageId: number): Promise<IStage> {
    await em.findOne(Project, { id: access.project.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    const stage = await em.findOne(Stage, { id: stageId, project: access.project }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!stage || stage.kind !== 'review') throw notFound('No such review stage');
    return stage;
  }

  async updateSchemas(access: ProjectAccess, inputSchema: InputField[], outputSchema: OutputField[]): Promise<void> {
    access.project.inputSchema = inputSchema;
    access.project.outputSchema = outputSchema;
    await this.em.flush();
  }

  private async uniqueSlug(em: EntityManager, base: string): Promise<string> {
    for (let n = 1; ; n++) {
      const slug = n === 1 ? base : `${base}-${n}`;
      if (!(await em.findOne(Project, { slug }))) return slug;
    }
  }
}
