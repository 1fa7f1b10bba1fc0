import { Type, type Static } from 'typebox';
import { TASK_STATES } from '../tasks/task.entity.ts';
import { Nullable, StageRef } from '../system/api.schemas.ts';

/** The dashboard's time ranges in days (`?range=`); 30 when absent. */
export const STAT_RANGES = [7, 30, 90] as const;
export type StatRange = (typeof STAT_RANGES)[number];
export const DEFAULT_RANGE: StatRange = 30;

/** Columns of the People table that `?sort=` accepts. */
export const PEOPLE_SORTS = ['name', 'finalized7', 'finalized30', 'median', 'accepted', 'corrected', 'rejected', 'reviews', 'open'] as const;
export type PeopleSort = (typeof PEOPLE_SORTS)[number];

// typed as the ranges it allows (an integer schema: the query string's digits are coerced)
const Range = Type.Unsafe<StatRange>(Type.Integer({ enum: [...STAT_RANGES], default: DEFAULT_RANGE, description: 'Days of history the figures cover: 7, 30 or 90' }));

export const StatsQuery = Type.Object({ range: Type.Optional(Range) });
export const DashboardQuery = Type.Object({
  range: Type.Optional(Range),
  sort: Type.Optional(Type.Enum(PEOPLE_SORTS, { description: 'People table column' })),
  dir: Type.Optional(Type.Enum(['asc', 'desc'])),
});

const Count = Type.Integer({ minimum: 0 });

const StageStates = Type.Object(Object.fromEntries(TASK_STATES.map((s) => [s, Count])) as Record<(typeof TASK_STATES)[number], typeof Count>);

export const StageWork = Type.Object({
  pool: Type.Integer({ minimum: 0, description: 'not held, nobody holds it: the next claim may take it' }),
  assigned: Count,
  saved: Count,
  pendingFinalization: Count,
  skipped: Count,
  issue: Type.Integer({ minimum: 0, description: 'an issue is raised and not answered yet' }),
  held: Type.Integer({ minimum: 0, description: 'out of the pool ("Queue → Hold")' }),
});

export const StageProgress = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  kind: Type.String({ enum: ['label', 'review', 'ground_truth'] }),
  total: Count,
  states: StageStates,
  work: StageWork,
});

export const ReviewOutcomes = Type.Object({ accepted: Count, corrected: Count, rejected: Count });

export const PersonStats = Type.Object({
  userId: Type.Integer(),
  name: Type.String(),
  email: Type.String(),
  role: Type.String({ enum: ['admin', 'manager', 'member'] }),
  finalized7: Type.Integer({ minimum: 0, description: 'assignments finalized today and the 6 days before (UTC)' }),
  finalized30: Type.Integer({ minimum: 0, description: 'assignments finalized today and the 29 days before (UTC)' }),
  finalizedInRange: Count,
  medianClaimToFinalizeSeconds: Nullable(Type.Number({ description: 'median time from the assignment (claim) to its finalization, over the range' })),
  labelOutcomes: Type.Object({ reviewed: Count, accepted: Count, corrected: Count, rejected: Count }, { description: 'how reviews in the range judged this person\'s labels' }),
  reviewsGiven: ReviewOutcomes,
  openWork: Type.Object({ assigned: Count, saved: Count, pendingFinalization: Count, skipped: Count, issue: Count, total: Count }),
});

const RunningJob = Type.Object({
  id: Type.Integer(),
  label: Type.String(),
  status: Type.String(),
  done: Count,
  total: Nullable(Count),
});

export const ProjectHealth = Type.Object({
  oldestInPool: Type.Array(Type.Object({
    stage: StageRef, pool: Count,
    taskId: Nullable(Type.Integer()), waitingSince: Nullable(Type.String({ format: 'date-time', description: 'last activity of the task that waits longest' })),
  })),
  leasesExpiringNextHour: Count,
  openIssues: Count,
  failedDeliveries: Type.Integer({ minimum: 0, description: 'completed tasks whose webhook delivery failed for good' }),
  running: Type.Object({ uploads: Type.Array(RunningJob), exports: Type.Array(RunningJob), bulk: Type.Array(RunningJob) }),
});

export const ProjectStats = Type.Object({
  projectId: Type.Integer(),
  range: Type.Integer({ enum: [...STAT_RANGES] }),
  scope: Type.String({ enum: ['project', 'own'], description: '`own`: a member sees only their own tasks and work' }),
  from: Type.String({ format: 'date', description: 'first day of the range (UTC)' }),
  to: Type.String({ format: 'date', description: 'last day of the range (today, UTC)' }),
  computedAt: Type.String({ format: 'date-time' }),
  ageSeconds: Type.Integer({ minimum: 0, description: 'how old the figures are: 0 when computed for this request' }),
  live: Type.Boolean({ description: 'true when computed for this request; false when stored figures (refreshed by a job) were served' }),
  progress: Type.Object({ total: Count, stages: Type.Array(StageProgress) }),
  throughput: Type.Object({
    days: Type.Array(Type.String({ format: 'date' })),
    stages: Type.Array(Type.Object({ id: Type.Integer(), name: Type.String(), counts: Type.Array(Count), total: Count })),
    reviews: ReviewOutcomes,
    client: Nullable(Type.Object({ delivered: Count, acknowledged: Count, rejected: Count })),
  }),
  people: Type.Array(PersonStats),
  health: Nullable(ProjectHealth),
}, { title: 'ProjectStats' });

export type ProjectStatsBody = Static<typeof ProjectStats>;
export type PersonRow = Static<typeof PersonStats>;
export type StageProgressRow = Static<typeof StageProgress>;
export type HealthBody = Static<typeof ProjectHealth>;
/** the stored figures: what the response has minus the fields of the moment it is read */
export type StoredStats = Omit<ProjectStatsBody, 'ageSeconds' | 'live'>;
