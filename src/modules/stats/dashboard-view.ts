import { canonicalQuery, DEFAULT_FILTER, type AssignmentFilterStatus, type TaskFilter } from '../selection/task-filter.ts';
import type { TaskState } from '../tasks/task.entity.ts';
import { DEFAULT_RANGE, STAT_RANGES, type PeopleSort, type PersonRow, type ProjectStatsBody, type StatRange } from './stats.schemas.ts';
import { MAX_AGE_SECONDS } from './stats.service.ts';

/**
 * What the Overview template draws, computed from the figures: bar geometry for the SVG charts
 * (in viewBox units; the charts stretch to their card and keep their labels in HTML), links into
 * the filtered task list, the People table's sort, and how fresh the figures are.
 */

export interface Segment {
  key: string;
  label: string;
  n: number;
  /** share of the bar, 0–100 */
  share: number;
  x: number;
  w: number;
  href: string | null;
}

const number = new Intl.NumberFormat('en-US');
const fmt = (n: number) => number.format(n);
const pct = (n: number, of: number) => (of > 0 ? (n * 100) / of : 0);
export const percentText = (n: number, of: number) => {
  if (of <= 0) return '—';
  const p = pct(n, of);
  return p > 0 && p < 1 ? '<1 %' : `${Math.round(p)} %`;
};

const WORK: { key: keyof ProjectStatsBody['progress']['stages'][number]['work']; label: string; status?: AssignmentFilterStatus }[] = [
  { key: 'pool', label: 'In pool', status: 'unassigned' },
  { key: 'assigned', label: 'Assigned', status: 'assigned' },
  { key: 'saved', label: 'Saved', status: 'saved' },
  { key: 'pendingFinalization', label: 'Pending finalization', status: 'pending_finalization' },
  { key: 'skipped', label: 'Skipped', status: 'skipped' },
  { key: 'issue', label: 'Issue raised', status: 'issue' },
  { key: 'held', label: 'Held' },
];
const STATES: { key: TaskState; label: string }[] = [
  { key: 'new', label: 'New' }, { key: 'in_progress', label: 'In progress' }, { key: 'rejected', label: 'Rejected' },
  { key: 'completed', label: 'Completed' }, { key: 'delivered', label: 'Delivered' }, { key: 'acknowledged', label: 'Acknowledged' },
];

const DONE_STATES: TaskState[] = ['completed', 'delivered', 'acknowledged'];

/** Lays out values as consecutive segments of a 1000-unit bar (zero values are left out). */
function segments(items: { key: string; label: string; n: number; href: string | null }[], total: number): Segment[] {
  let x = 0;
  const out: Segment[] = [];
  for (const item of items) {
    if (item.n <= 0) continue;
    const w = total > 0 ? (item.n * 1000) / total : 0;
    out.push({ ...item, share: pct(item.n, total), x, w });
    x += w;
  }
  return out;
}

/** A round upper bound for an axis (1, 2, 2.5 or 5 × 10^k) and its four gridlines. */
export function niceAxis(max: number): { top: number; ticks: number[] } {
  if (max <= 0) return { top: 4, ticks: [0, 1, 2, 3, 4] };
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map((m) => m * magnitude).find((s) => s >= raw && Number.isInteger(s)) ?? Math.ceil(raw);
  return { top: step * 4, ticks: [0, 1, 2, 3, 4].map((i) => i * step) };
}

const shortDay = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const dayLabel = (day: string) => shortDay.format(new Date(`${day}T00:00:00Z`));

export function ageText(seconds: number): string {
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function durationText(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(seconds < 36000 ? 1 : 0)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const PEOPLE_VALUE: Record<PeopleSort, (p: PersonRow) => number | string | null> = {
  name: (p) => p.name.toLowerCase(),
  finalized7: (p) => p.finalized7,
  finalized30: (p) => p.finalized30,
  median: (p) => p.medianClaimToFinalizeSeconds,
  accepted: (p) => (p.labelOutcomes.reviewed ? p.labelOutcomes.accepted / p.labelOutcomes.reviewed : null),
  corrected: (p) => (p.labelOutcomes.reviewed ? p.labelOutcomes.corrected / p.labelOutcomes.reviewed : null),
  rejected: (p) => (p.labelOutcomes.reviewed ? p.labelOutcomes.rejected / p.labelOutcomes.reviewed : null),
  reviews: (p) => p.reviewsGiven.accepted + p.reviewsGiven.corrected + p.reviewsGiven.rejected,
  open: (p) => p.openWork.total,
};
/** the direction a column sorts in when first clicked */
const FIRST_DIR: Record<PeopleSort, 'asc' | 'desc'> = { name: 'asc', finalized7: 'desc', finalized30: 'desc', median: 'asc', accepted: 'desc', corrected: 'desc', rejected: 'desc', reviews: 'desc', open: 'desc' };

/** People sorted by a column; empty values last whatever the direction, then by name. */
export function sortPeople(people: PersonRow[], sort: PeopleSort, dir: 'asc' | 'desc'): PersonRow[] {
  const value = PEOPLE_VALUE[sort];
  return [...people].sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    if (va === null && vb !== null) return 1;
    if (vb === null && va !== null) return -1;
    if (va !== null && vb !== null && va !== vb) return (va < vb ? -1 : 1) * (dir === 'asc' ? 1 : -1);
    return a.name.localeCompare(b.name) || a.userId - b.userId;
  });
}

export interface DashboardOptions {
  projectId: number;
  range: StatRange;
  sort?: PeopleSort;
  dir?: 'asc' | 'desc';
  canManage: boolean;
}

export function dashboardView(stats: ProjectStatsBody, o: DashboardOptions) {
  const base = `/projects/${o.projectId}`;
  const sort: PeopleSort = o.sort ?? 'finalized30';
  const dir = o.dir ?? FIRST_DIR[sort];
  /** the dashboard's own URL with some of its parameters changed (defaults dropped) */
  const selfHref = (p: { range?: StatRange; sort?: PeopleSort; dir?: 'asc' | 'desc' } = {}) => {
    const q = new URLSearchParams();
    const range = p.range ?? o.range;
    const s = p.sort ?? o.sort;
    const d = p.dir ?? o.dir;
    if (s) q.set('dir', d ?? FIRST_DIR[s]);
    if (range !== DEFAULT_RANGE) q.set('range', String(range));
    if (s) q.set('sort', s);
    const text = q.toString();
    return text ? `${base}?${text}` : base;
  };
  const tasksHref = (f: Partial<TaskFilter>) => {
    const q = canonicalQuery({ ...DEFAULT_FILTER, states: [], stageIds: [], statuses: [], ...f });
    return q ? `${base}/tasks?${q}` : `${base}/tasks`;
  };
  const own = stats.scope === 'own';

  // ── progress ──
  const total = stats.progress.total;
  const stateTotals = STATES.map((s) => ({ ...s, n: stats.progress.stages.reduce((n, st) => n + st.states[s.key], 0) }));
  const stateBar = segments(stateTotals.map((s) => ({ key: s.key, label: s.label, n: s.n, href: tasksHref({ states: [s.key] }) })), total);
  const done = stats.progress.stages.filter((st) => st.kind === 'ground_truth').reduce((n, st) => n + st.total, 0);
  // a member holds no Ground Truth tasks: their tiles are the stages with work
  const stages = stats.progress.stages.filter((st) => !own || st.kind !== 'ground_truth').map((st, index) => {
    const terminal = st.kind === 'ground_truth';
    const items = terminal
      ? STATES.filter((s) => DONE_STATES.includes(s.key) || st.states[s.key] > 0)
        .map((s) => ({ key: s.key, label: s.label, n: st.states[s.key], href: tasksHref({ stageIds: [st.id], states: [s.key] }) }))
      : WORK.map((w) => ({
        key: w.key, label: w.label, n: st.work[w.key],
        href: w.key === 'held' ? tasksHref({ stageIds: [st.id], held: true })
          : w.key === 'pool' ? (own ? null : tasksHref({ stageIds: [st.id], statuses: ['unassigned'], held: false }))
          : tasksHref({ stageIds: [st.id], statuses: [w.status!], ...(own ? { assignee: 'me' as const } : {}) }),
      }));
    const shownItems = own && !terminal ? items.filter((i) => i.key !== 'pool') : items;
    return {
      ...st, index, terminal,
      share: pct(st.total, total),
      href: tasksHref({ stageIds: [st.id] }),
      bar: segments(shownItems, st.total),
      items: shownItems,
      states: STATES.filter((s) => st.states[s.key] > 0).map((s) => ({ ...s, n: st.states[s.key] })),
    };
  });

  // ── throughput ──
  const days = stats.throughput.days;
  const series = stats.throughput.stages.map((s, i) => ({ ...s, index: i }));
  const dayTotals = days.map((_, d) => series.reduce((n, s) => n + s.counts[d], 0));
  const axis = niceAxis(Math.max(0, ...dayTotals));
  const slot = 1000 / Math.max(1, days.length);
  const barW = slot * (days.length > 60 ? 0.8 : 0.66);
  const bars = days.map((day, d) => {
    let y = 200;
    const segs = series.filter((s) => s.counts[d] > 0).map((s) => {
      const h = (s.counts[d] * 200) / axis.top;
      y -= h;
      return { index: s.index, y, h, title: `${dayLabel(day)} · ${s.name}: ${fmt(s.counts[d])} finalized` };
    });
    return { day, x: d * slot + (slot - barW) / 2, w: barW, total: dayTotals[d], segs };
  });
  const every = days.length <= 7 ? 1 : days.length <= 30 ? 5 : 15;
  const xLabels = days.map((day, d) => ({ text: dayLabel(day), show: (days.length - 1 - d) % every === 0 }));
  const finalizedInRange = series.reduce((n, s) => n + s.total, 0);
  const busiest = dayTotals.reduce((best, n, d) => (n > best.n ? { n, d } : best), { n: 0, d: -1 });

  const outcomeBar = (items: { key: string; label: string; n: number }[]) => {
    const sum = items.reduce((n, i) => n + i.n, 0);
    return { total: sum, items: items.map((i) => ({ ...i, share: percentText(i.n, sum) })), bar: segments(items.map((i) => ({ ...i, href: null })), sum) };
  };
  const r = stats.throughput.reviews;
  const reviews = outcomeBar([{ key: 'accepted', label: 'Accepted', n: r.accepted }, { key: 'corrected', label: 'Corrected', n: r.corrected }, { key: 'rejected', label: 'Rejected', n: r.rejected }]);
  const c = stats.throughput.client;
  const client = c && outcomeBar([{ key: 'delivered', label: 'Delivered', n: c.delivered }, { key: 'acknowledged', label: 'Acknowledged', n: c.acknowledged }, { key: 'rejected', label: 'Rejected', n: c.rejected }]);

  // ── people ──
  const people = sortPeople(stats.people, sort, dir).map((p) => ({
    ...p,
    median: durationText(p.medianClaimToFinalizeSeconds),
    outcomes: outcomeBar([
      { key: 'accepted', label: 'Accepted', n: p.labelOutcomes.accepted },
      { key: 'corrected', label: 'Corrected', n: p.labelOutcomes.corrected },
      { key: 'rejected', label: 'Rejected', n: p.labelOutcomes.rejected },
    ]),
    given: p.reviewsGiven.accepted + p.reviewsGiven.corrected + p.reviewsGiven.rejected,
    givenTitle: `${fmt(p.reviewsGiven.accepted)} accepted, ${fmt(p.reviewsGiven.corrected)} corrected, ${fmt(p.reviewsGiven.rejected)} rejected`,
    openTitle: `${fmt(p.openWork.assigned)} assigned, ${fmt(p.openWork.saved)} saved, ${fmt(p.openWork.pendingFinalization)} pending finalization, ${fmt(p.openWork.skipped)} skipped, ${fmt(p.openWork.issue)} with an issue`,
    workHref: o.canManage ? `${base}/reservations?user=${p.userId}` : `${base}/queue`,
    tasksHref: o.canManage ? tasksHref({ assignee: p.userId }) : tasksHref({ assignee: 'me' }),
  }));
  const column = (key: PeopleSort, label: string, numeric = true) => {
    const current = sort === key;
    const next = current ? (dir === 'asc' ? 'desc' : 'asc') : FIRST_DIR[key];
    return { key, label, numeric, href: selfHref({ sort: key, dir: next }), ariaSort: current ? (dir === 'asc' ? 'ascending' : 'descending') : null, arrow: current ? (dir === 'asc' ? '↑' : '↓') : '' };
  };
  const columns = {
    name: column('name', 'Person', false), finalized7: column('finalized7', '7 days'), finalized30: column('finalized30', '30 days'),
    median: column('median', 'Claim → finalize'), accepted: column('accepted', 'Accepted'), corrected: column('corrected', 'Corrected'),
    rejected: column('rejected', 'Rejected'), reviews: column('reviews', 'Reviews given'), open: column('open', 'Open work'),
  };

  // ── health ──
  const h = stats.health;
  const health = h && {
    pools: h.oldestInPool.map((p) => ({
      ...p,
      waitedSeconds: p.waitingSince ? Math.max(0, Math.floor((Date.parse(stats.computedAt) - Date.parse(p.waitingSince)) / 1000)) : null,
      poolHref: tasksHref({ stageIds: [p.stage.id], statuses: ['unassigned'], held: false }),
      taskHref: p.taskId ? `${base}/tasks/${p.taskId}` : null,
    })),
    items: [
      { key: 'leases', label: 'Leases expiring in the next hour', n: h.leasesExpiringNextHour, tone: h.leasesExpiringNextHour ? 'warning' : 'ok', href: `${base}/reservations` },
      { key: 'issues', label: 'Open issues', n: h.openIssues, tone: h.openIssues ? 'warning' : 'ok', href: `${base}/issues` },
      { key: 'deliveries', label: 'Failed webhook deliveries', n: h.failedDeliveries, tone: h.failedDeliveries ? 'danger' : 'ok', href: `${base}/delivery` },
    ],
    running: [
      ...h.running.uploads.map((u) => ({ kind: 'Upload', ...u, href: `${base}/uploads/${u.id}` })),
      ...h.running.exports.map((e) => ({ kind: 'Export', ...e, href: `${base}/exports` })),
      ...h.running.bulk.map((b) => ({ kind: 'Bulk action', ...b, href: `${base}/bulk/${b.id}` })),
    ],
  };

  const stale = !stats.live && stats.ageSeconds > MAX_AGE_SECONDS;
  return {
    stats, own, base,
    range: o.range,
    ranges: STAT_RANGES.map((value) => ({ value, label: `${value} days`, href: selfHref({ range: value }), current: value === o.range })),
    selfHref: selfHref(),
    fromLabel: dayLabel(stats.from), toLabel: dayLabel(stats.to),
    freshness: stats.live ? 'Live' : `Updated ${ageText(stats.ageSeconds)}`,
    stale,
    // stored figures being refreshed come back sooner
    refreshEvery: stale ? '5s' : '30s',
    progress: { total, done, donePct: percentText(done, total), stateBar, stateTotals, stages },
    throughput: { days, series, bars, axis, xLabels, finalizedInRange, busiest: busiest.d >= 0 ? { day: dayLabel(days[busiest.d]), n: busiest.n } : null, reviews, client },
    people, columns, sort, dir,
    health,
    fmt, percentText, duration: durationText,
  };
}

export type DashboardView = ReturnType<typeof dashboardView>;
