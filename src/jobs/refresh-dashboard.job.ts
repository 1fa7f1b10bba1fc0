import { Type } from 'typebox';
import { REFRESH_DASHBOARD } from '../modules/stats/stats.service.ts';
import { STAT_RANGES, type StatRange } from '../modules/stats/stats.schemas.ts';
import { defineJob } from './job.ts';

const payload = Type.Object({
  projectId: Type.Integer({ minimum: 1 }),
  userId: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
  range: Type.Union(STAT_RANGES.map((r) => Type.Literal(r))),
});

/**
 * Recomputes one scope's stored dashboard figures (a large project, for everyone or for one
 * member). Sent throttled by a dashboard request that found them older than MAX_AGE_SECONDS.
 */
export const refreshDashboard = defineJob<{ projectId: number; userId: number | null; range: StatRange }>({
  name: REFRESH_DASHBOARD,
  label: 'Dashboard refresh',
  payload,
  kind: 'short',
  // figures are asked for again by the next request: a failed refresh needs no long retry
  queue: { retryLimit: 2, expireInSeconds: 300 },
  concurrency: 1,
  async run(data, { services }) {
    await services.stats.refreshNow(data.projectId, data.userId, data.range);
  },
});
