import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { User, type IUser } from '../users/user.entity.ts';
import type { ProjectAccess, StageInfo } from '../projects/project-access.ts';
import { ProjectsService } from '../projects/projects.service.ts';
import { TASK_STATES } from '../tasks/task.entity.ts';
import { StatsRepository, type TaskGroupRow, type Windows } from './stats.repository.ts';
import type { HealthBody, PersonRow, ProjectStatsBody, StageProgressRow, StatRange, StoredStats } from './stats.schemas.ts';

export const REFRESH_DASHBOARD = 'refresh-dashboard';
/** Figures that take at most this long to compute are computed for every request (live). */
export const LIVE_BUDGET_MS = 50;
/** Stored figures older than this are refreshed by the job (the page says how old they are). */
export const MAX_AGE_SECONDS = 15;
/** A live project's cost is measured again this often (it may have grown past the budget). */
const REMEASURE_SECONDS = 300;
const DAY_MS = 86_400_000;

const dayOf = (d: Date) => d.toISOString().slice(0, 10);
const startOfUtcDay = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));

/** The windows of a range ending today (UTC): `range` whole days, today included. */
export function windowsOf(range: StatRange, now: Date): Windows & { days: string[] } {
  const today = startOfUtcDay(now);
  const back = (days: number) => new Date(today.getTime() - (days - 1) * DAY_MS);
  const rangeStart = back(range);
  const start7 = back(7);
  const start30 = back(30);
  const earliest = new Date(Math.min(rangeStart.getTime(), start30.getTime()));
  const days = Array.from({ length: range }, (_, i) => dayOf(new Date(rangeStart.getTime() + i * DAY_MS)));
  return { rangeStart, start7, start30, earliest, days };
}

/** The scope of what a viewer sees: admins and managers the whole project, members their own figures. */
export const ownScope = (access: ProjectAccess, user: IUser): number | null => (access.canManageTasks ? null : user.id);

/**
 * The project dashboard's figures (issue 13 §1). Small projects are computed for each request;
 * a project whose figures take longer than LIVE_BUDGET_MS is served from `dashboard_snapshots`,
 * which the refresh-dashboard job recomputes when they are older than MAX_AGE_SECONDS.
 */
export class StatsService {
  private readonly repo: StatsRepository;

  constructor(
    private readonly em: EntityManager,
    private readonly boss?: PgBoss,
  ) {
    this.repo = new StatsRepository(em);
  }

  /** The figures a viewer may see: the whole project for admins and managers, their own for members. */
  async forViewer(access: ProjectAccess, user: IUser, range: StatRange, now = new Date()): Promise<ProjectStatsBody> {
    const userId = ownScope(access, user);
    const projectId = access.project.id;
    const stored = await this.repo.snapshot(projectId, userId, range);
    const ageSeconds = stored ? Math.max(0, Math.floor((now.getTime() - stored.computedAt.getTime()) / 1000)) : 0;
    // cheap figures are computed for each request; so are figures nobody looked at for a while
    // when computing them takes well under a second (rather than showing them half an hour old)
    const cheap = stored && (stored.computeMs <= LIVE_BUDGET_MS || (ageSeconds > REMEASURE_SECONDS && stored.computeMs <= 10 * LIVE_BUDGET_MS));
    if (!stored || cheap) {
      const started = performance.now();
      const figures = await this.compute(projectId, access.stages, userId, range, now);
      const ms = performance.now() - started;
      // stored when first computed, when it got too slow to compute live, and now and then to re-measure
      if (!stored || ms > LIVE_BUDGET_MS || ageSeconds > REMEASURE_SECONDS) await this.repo.saveSnapshot(projectId, userId, range, figures, now, ms);
      return { ...figures, ageSeconds: 0, live: true };
    }
    if (ageSeconds > MAX_AGE_SECONDS) await this.refreshLater(projectId, userId, range);
    return { ...stored.figures, ageSeconds, live: false };
  }

  /** Asks the job to recompute stored figures (at most once per MAX_AGE_SECONDS and scope). */
  async refreshLater(projectId: number, userId: number | null, range: StatRange): Promise<void> {
    if (!this.boss) return;
    await this.boss.sendThrottled(REFRESH_DASHBOARD, { projectId, userId, range }, {}, MAX_AGE_SECONDS, `${projectId}:${userId ?? 'all'}:${range}`);
  }

  /**
   * Recomputes and stores one scope's figures (the job's work). Checks the payload against the
   * database: a project that is gone, or a member who left or became a manager, stores nothing.
   */
  async refreshNow(projectId: number, userId: number | null, range: StatRange, now = new Date()): Promise<boolean> {
    let stages: StageInfo[];
    if (userId === null) {
      stages = await this.repo.stagesOf(projectId);
      if (!stages.length) return false;
    } else {
      const user = await this.em.findOne(User, { id: userId, active: true });
      if (!user) return false;
      const access = await new ProjectsService(this.em).access(user, projectId).catch(() => null);
      if (!access || ownScope(access, user) === null) return false;
      stages = access.stages;
    }
    const started = performance.now();
    const figures = await this.compute(projectId, stages, userId, range, now);
    await this.repo.saveSnapshot(projectId, userId, range, figures, now, performance.now() - started);
    return true;
  }

  /** Every figure of the dashboard, for the whole project (`userId` null) or one member's own work. */
  async compute(projectId: number, stages: StageInfo[], userId: number | null, range: StatRange, now: Date): Promise<StoredStats> {
    const w = windowsOf(range, now);
    const workStages = stages.filter((s) => s.kind !== 'ground_truth');
    const reviewStages = stages.filter((s) => s.kind === 'review');
    const label = stages.find((s) => s.kind === 'label');
    const workIds = workStages.map((s) => s.id);
    const reviewIds = reviewStages.map((s) => s.id);

    const groups = await this.repo.taskGroups(projectId, userId);
    const perDay = await this.repo.finalizedPerDay(workIds, w.rangeStart, userId);
    const personRows = await this.repo.personFigures(workIds, reviewIds, w, userId);
    const labelRows = label ? await this.repo.labelOutcomes(label.id, reviewIds, w.rangeStart, userId) : [];
    // a member's review outcomes are those of their own labels; the project's, every review given
    const reviews = userId === null ? await this.repo.reviewOutcomes(reviewIds, w.rangeStart) : sumOutcomes(labelRows);
    const client = userId === null ? await this.repo.clientOutcomes(projectId, w.rangeStart) : null;

    const progress = progressOf(stages, groups);
    const dayIndex = new Map(w.days.map((d, i) => [d, i]));
    const throughputStages = workStages.map((s) => {
      const counts = w.days.map(() => 0);
      for (const r of perDay) if (r.stageId === s.id && dayIndex.has(r.day)) counts[dayIndex.get(r.day)!] += r.n;
      return { id: s.id, name: s.name, counts, total: counts.reduce((a, b) => a + b, 0) };
    });

    const people = await this.peopleOf(projectId, groups, personRows, labelRows, userId);
    const health = userId === null ? await this.healthOf(projectId, stages, groups) : null;
    return {
      projectId, range, scope: userId === null ? 'project' : 'own', from: w.days[0], to: w.days.at(-1)!, computedAt: now.toISOString(),
      progress,
      throughput: {
        days: w.days, stages: throughputStages,
        reviews: { accepted: reviews.accepted ?? 0, corrected: reviews.corrected ?? 0, rejected: reviews.rejected ?? 0 },
        client: client && { delivered: client.delivered ?? 0, acknowledged: client.acknowledged ?? 0, rejected: client.rejected ?? 0 },
      },
      people,
      health,
    };
  }

  private async peopleOf(projectId: number, groups: TaskGroupRow[], personRows: Awaited<ReturnType<StatsRepository['personFigures']>>, labelRows: { userId: number; outcome: string; n: number }[], userId: number | null): Promise<PersonRow[]> {
    const open = new Map<number, PersonRow['openWork']>();
    for (const g of groups) {
      if (g.assigneeId === null || g.status === null) continue;
      const w = open.get(g.assigneeId) ?? { assigned: 0, saved: 0, pendingFinalization: 0, skipped: 0, issue: 0, total: 0 };
      const key = g.status === 'pending_finalization' ? 'pendingFinalization' : (g.status as keyof PersonRow['openWork']);
      if (key in w) w[key] += g.n;
      w.total += g.n;
      open.set(g.assigneeId, w);
    }
    const figures = new Map(personRows.map((r) => [r.userId, r]));
    const outcomes = new Map<number, PersonRow['labelOutcomes']>();
    for (const r of labelRows) {
      const o = outcomes.get(r.userId) ?? { reviewed: 0, accepted: 0, corrected: 0, rejected: 0 };
      if (r.outcome === 'accepted' || r.outcome === 'corrected' || r.outcome === 'rejected') o[r.outcome] += r.n;
      o.reviewed += r.n;
      outcomes.set(r.userId, o);
    }
    const ids = [...new Set([...open.keys(), ...figures.keys(), ...outcomes.keys()])];
    const users = await this.repo.people(projectId, ids, userId);
    return users.map((u) => {
      const f = figures.get(u.id);
      return {
        userId: u.id, name: u.name, email: u.email, role: u.role,
        finalized7: f?.f7 ?? 0, finalized30: f?.f30 ?? 0, finalizedInRange: f?.fRange ?? 0,
        medianClaimToFinalizeSeconds: f?.medianSeconds ?? null,
        labelOutcomes: outcomes.get(u.id) ?? { reviewed: 0, accepted: 0, corrected: 0, rejected: 0 },
        reviewsGiven: { accepted: f?.givenAccepted ?? 0, corrected: f?.givenCorrected ?? 0, rejected: f?.givenRejected ?? 0 },
        openWork: open.get(u.id) ?? { assigned: 0, saved: 0, pendingFinalization: 0, skipped: 0, issue: 0, total: 0 },
      };
    });
  }

  private async healthOf(projectId: number, stages: StageInfo[], groups: TaskGroupRow[]): Promise<HealthBody> {
    const oldestInPool: HealthBody['oldestInPool'] = [];
    for (const s of stages.filter((st) => st.kind !== 'ground_truth')) {
      let oldest: Date | null = null;
      let taskId: number | null = null;
      let pool = 0;
      for (const g of groups) {
        if (g.stageId !== s.id || g.held || g.assigneeId !== null) continue;
        pool += g.n;
        if (g.oldestPool && (!oldest || g.oldestPool < oldest)) {
          oldest = g.oldestPool;
          taskId = g.oldestPoolTaskId;
        }
      }
      oldestInPool.push({ stage: { id: s.id, name: s.name }, pool, taskId, waitingSince: oldest?.toISOString() ?? null });
    }
    const running = await this.repo.running(projectId);
    const pick = (kind: string) => running.filter((r) => r.kind === kind).map(({ id, label, status, done, total }) => ({ id, label, status, done, total }));
    return {
      oldestInPool,
      leasesExpiringNextHour: groups.reduce((n, g) => n + g.expiring, 0),
      openIssues: groups.reduce((n, g) => n + (g.status === 'issue' ? g.n : 0), 0),
      failedDeliveries: groups.reduce((n, g) => n + (g.failed ? g.n : 0), 0),
      running: { uploads: pick('upload'), exports: pick('export'), bulk: pick('bulk') },
    };
  }
}

function sumOutcomes(rows: { outcome: string; n: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[r.outcome] = (out[r.outcome] ?? 0) + r.n;
  return out;
}

/** Tasks per stage and state, and the work in each stage, from the pass's groups. */
function progressOf(stages: StageInfo[], groups: TaskGroupRow[]): StoredStats['progress'] {
  const rows: StageProgressRow[] = stages.map((s) => ({
    id: s.id, name: s.name, kind: s.kind, total: 0,
    states: Object.fromEntries(TASK_STATES.map((st) => [st, 0])) as StageProgressRow['states'],
    work: { pool: 0, assigned: 0, saved: 0, pendingFinalization: 0, skipped: 0, issue: 0, held: 0 },
  }));
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const g of groups) {
    const row = byId.get(g.stageId);
    if (!row) continue;
    row.total += g.n;
    if (g.state in row.states) row.states[g.state as keyof StageProgressRow['states']] += g.n;
    if (g.held) row.work.held += g.n;
    else if (g.assigneeId === null) {
      if (row.kind !== 'ground_truth') row.work.pool += g.n;
    } else if (g.status) {
      const key = g.status === 'pending_finalization' ? 'pendingFinalization' : g.status;
      if (key in row.work) row.work[key as keyof StageProgressRow['work']] += g.n;
    }
  }
  return { total: rows.reduce((n, r) => n + r.total, 0), stages: rows };
}
