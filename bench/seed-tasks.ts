/**
 * Seeds one benchmark project with N tasks, fast. Shared by the benchmarks (`bench:list`, and
 * `bench:allocate` with every task in the Label stage).
 *
 * Users, the project, its stages and memberships go through the application's own services; the
 * tasks and their open assignments are set-based SQL over `generate_series`. While the rows go
 * in, the secondary indexes of `tasks` are dropped and then rebuilt (all in one transaction, so a
 * failed seed leaves the database as it was), then VACUUM ANALYZE sets statistics and the
 * visibility map (index-only scans) the way a settled production table has them.
 *
 * Every value is a deterministic function of the task number n (1..N), so two seeds of the same
 * N are identical and the benchmark views select the same rows every time.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import pg from 'pg';
import { migrate } from '../src/db/migrate.ts';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';

export const BENCH_PASSWORD = 'tasklane-bench';
export const BENCH_ADMIN = 'admin@bench.tasklane';
export const BENCH_MANAGER = 'manager@bench.tasklane';
/** Client batch ID of every 10th task (exactly N/10 tasks: 100,000 at 1M): the bulk benchmark's selection. */
export const BULK_BATCH = 'bulk-tenth';
/** The seed's "now": fixed, so two seeds are identical (dates run up to it, never past it). */
export const SEED_NOW = '2026-11-22 08:00Z';
/** Number of regular client batches (plus BULK_BATCH: 200 batch IDs in all). */
export const BATCHES = 199;

export type SeedLayout =
  /** a realistic spread over Label, Review_1 and Ground Truth and all six states */
  | 'spread'
  /** every task in the Label stage (new, in progress or rejected): an allocation pool */
  | 'label';

export interface SeedOptions {
  tasks: number;
  layout?: SeedLayout;
  /** project slug (default `bench-<layout>`); also how a later run finds the seed */
  slug?: string;
  log?: (msg: string) => void;
}

export interface SeededProject {
  projectId: number;
  slug: string;
  tasks: number;
  layout: SeedLayout;
  stages: { label: number; review: number; groundTruth: number };
  adminId: number;
  managerId: number;
  /** labelers (Label stage) */
  labelers: number[];
  /** reviewers (Review_1 stage) */
  reviewers: number[];
  password: string;
  adminEmail: string;
  managerEmail: string;
}

const LABELERS = 6;
const REVIEWERS = 2;

/**
 * The seeded project of `slug` when it exists with exactly `tasks` tasks; undefined otherwise
 * (then the caller seeds a fresh database).
 */
export async function findSeed(databaseUrl: string, options: SeedOptions): Promise<SeededProject | undefined> {
  const { tasks } = options;
  const layout = options.layout ?? 'spread';
  const slug = options.slug ?? `bench-${layout}`;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const exists = await client.query(`select to_regclass('public.projects') as t`);
    if (!exists.rows[0].t) return undefined;
    const project = await client.query<{ id: string }>('select id from projects where slug = $1', [slug]);
    if (!project.rowCount) return undefined;
    const projectId = Number(project.rows[0].id);
    const { rows: count } = await client.query<{ n: string }>('select count(*) as n from tasks where project_id = $1', [projectId]);
    if (Number(count[0].n) !== tasks) return undefined;
    const { rows: stages } = await client.query<{ id: string }>('select id from stages where project_id = $1 order by position', [projectId]);
    const { rows: users } = await client.query<{ id: string; email: string }>(`select id, email from users where email like '%@bench.tasklane'`);
    const id = (email: string) => Number(users.find((u) => u.email === email)?.id);
    return {
      projectId, slug, tasks, layout,
      stages: { label: Number(stages[0].id), review: Number(stages[1].id), groundTruth: Number(stages[2].id) },
      adminId: id(BENCH_ADMIN), managerId: id(BENCH_MANAGER),
      labelers: Array.from({ length: LABELERS }, (_, i) => id(`labeler${i + 1}@bench.tasklane`)),
      reviewers: Array.from({ length: REVIEWERS }, (_, i) => id(`reviewer${i + 1}@bench.tasklane`)),
      password: BENCH_PASSWORD, adminEmail: BENCH_ADMIN, managerEmail: BENCH_MANAGER,
    };
  } finally {
    await client.end();
  }
}

/** Creates the users, project and stages, then N tasks. Expects a database without that project. */
export async function seedTasks(databaseUrl: string, options: SeedOptions): Promise<SeededProject> {
  const layout = options.layout ?? 'spread';
  const slug = options.slug ?? `bench-${layout}`;
  const log = options.log ?? (() => {});
  await migrate(databaseUrl);

  const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
  let seed: SeededProject;
  try {
    const em = orm.em.fork();
    const services = createServices(em);
    const user = async (email: string, name: string, isAdmin = false): Promise<IUser> => {
      const existing = await sql<{ id: string }>`select id from users where lower(email) = lower(${email})`.execute(em.getKysely());
      if (existing.rows.length) return services.users.get(Number(existing.rows[0].id));
      return (await services.users.create({ email, name, password: BENCH_PASSWORD, isAdmin })).user;
    };
    const admin = await user(BENCH_ADMIN, 'Bench Admin', true);
    const manager = await user(BENCH_MANAGER, 'Bench Manager');
    const labelers: IUser[] = [];
    for (let i = 1; i <= LABELERS; i++) labelers.push(await user(`labeler${i}@bench.tasklane`, `Labeler ${i}`));
    const reviewers: IUser[] = [];
    for (let i = 1; i <= REVIEWERS; i++) reviewers.push(await user(`reviewer${i}@bench.tasklane`, `Reviewer ${i}`));

    const project = await services.projects.create(admin, { name: `Benchmark (${layout})`, reviewStages: 1 });
    const access = await services.projects.access(admin, project.id, 'admin');
    const [label, review, groundTruth] = await services.projects.stages(project);
    await services.members.add(access, BENCH_MANAGER, { role: 'manager', stageIds: [] });
    for (const l of labelers) await services.members.add(access, l.email, { role: 'member', stageIds: [label.id] });
    for (const r of reviewers) await services.members.add(access, r.email, { role: 'member', stageIds: [review.id] });

    seed = {
      projectId: project.id, slug: project.slug, tasks: options.tasks, layout,
      stages: { label: label.id, review: review.id, groundTruth: groundTruth.id },
      adminId: admin.id, managerId: manager.id,
      labelers: labelers.map((u) => u.id), reviewers: reviewers.map((u) => u.id),
      password: BENCH_PASSWORD, adminEmail: BENCH_ADMIN, managerEmail: BENCH_MANAGER,
    };
    // the slug finds the seed on the next run (create derived one from the name)
    await sql`update projects set slug = ${slug} where id = ${project.id}`.execute(em.getKysely());
    seed.slug = slug;
  } finally {
    await orm.close();
  }

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const started = Date.now();
    log(`inserting ${options.tasks.toLocaleString('en-US')} tasks (${layout})`);
    await insertTasks(client, seed, log);
    log(`inserted in ${((Date.now() - started) / 1000).toFixed(1)} s; vacuum analyze`);
    await client.query('vacuum (analyze) tasks');
    await client.query('vacuum (analyze) task_names');
    await client.query('vacuum (analyze) assignments');
    await client.query('analyze users, stages, projects, project_members');
  } finally {
    await client.end();
  }
  return seed;
}

/** `hashint4extended(n, seed)` folded to a non-negative int: independent pseudo-random draws per n. */
const h = (seed: number) => `(hashint4extended(n, ${seed}) & 1073741823)`;

async function insertTasks(client: pg.Client, seed: SeededProject, log: (msg: string) => void) {
  const { label, review, groundTruth } = seed.stages;
  const spread = seed.layout === 'spread';
  // n % 100 decides the fate of task n
  const fate = spread
    ? { // 0-49 new (Label), 50-61 in progress (Label), 62-63 rejected (Label), 64-73 in progress (Review_1),
        // 74-87 completed, 88-95 delivered, 96-99 acknowledged (Ground Truth)
        state: `case when n % 100 < 50 then 'new' when n % 100 < 62 then 'in_progress' when n % 100 < 64 then 'rejected'
                     when n % 100 < 74 then 'in_progress' when n % 100 < 88 then 'completed' when n % 100 < 96 then 'delivered'
                     else 'acknowledged' end`,
        stage: `case when n % 100 < 64 then ${label} when n % 100 < 74 then ${review} else ${groundTruth} end`,
        // open work: Label in progress / rejected (back to their labeler), 2 of 3 review tasks
        assigned: `(n % 100 between 50 and 63 or (n % 100 between 64 and 73 and n % 3 <> 0))`,
        inReview: `n % 100 between 64 and 73`,
        rejected: `n % 100 between 62 and 63`,
      }
    : { // 0-84 new, 85-97 in progress, 98-99 rejected; all in Label
        state: `case when n % 100 < 85 then 'new' when n % 100 < 98 then 'in_progress' else 'rejected' end`,
        stage: `${label}`,
        assigned: `(n % 100 >= 85)`,
        inReview: 'false',
        rejected: `n % 100 >= 98`,
      };
  const status = `case when ${fate.rejected} then 'assigned' when ${fate.inReview} then (array['assigned','saved'])[1 + ${h(7)} % 2]
                       else (array['assigned','saved','saved','pending_finalization','skipped','issue'])[1 + ${h(7)} % 6] end`;

  await client.query('begin');
  await client.query(`set local maintenance_work_mem = '512MB'`);
  // secondary indexes (of tasks, and the trigram index of their names) are rebuilt once at the end
  // instead of maintained row by row
  const { rows: indexes } = await client.query<{ name: string; def: string; comment: string | null }>(
    `select i.relname as name, pg_get_indexdef(x.indexrelid) as def, obj_description(x.indexrelid, 'pg_class') as comment
     from pg_index x join pg_class i on i.oid = x.indexrelid
     where x.indrelid in ('tasks'::regclass, 'task_names'::regclass) and not x.indisprimary and not x.indisunique`,
  );
  for (const ix of indexes) await client.query(`drop index ${quoteIdent(ix.name)}`);

  let t = Date.now();
  const lap = (what: string) => {
    log(`  ${what}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
  };
  await client.query(
    `insert into tasks (project_id, name, data, metadata, state, stage_id, priority, priority_score, client_batch_id, held,
                        assignee_id, assignment_status, assignment_kind, has_open_issue,
                        created_at, last_activity_at, last_submitted_at, last_submitted_by_id)
     select $1, format('task-%s', lpad(n::text, 7, '0')),
            jsonb_build_object(
              'image_url', format('https://images.example.org/bench/%s/%s.jpg', n % 997, substr(md5(n::text), 1, 16)),
              'camera', (array['front-left','front-center','front-right','rear-left','rear-right'])[1 + n % 5],
              'captured_at', to_char(date '2025-06-01' + (n % 365), 'YYYY-MM-DD'),
              'weather_hint', (array['clear','overcast','rain','fog','snow','night'])[1 + ${h(3)} % 6],
              'frame', n % 9000, 'route', format('R-%s-%s', n % 37, n % 11)),
            jsonb_build_object('site', (array['Lyon','Porto','Gdansk','Turin','Ghent','Leeds'])[1 + n % 6]),
            ${fate.state},
            ${fate.stage},
            -- lower is served first: 60 % at 0, 6 % negative (-10..-1), 24 % 1..10, 10 % 11..100
            case when ${h(1)} % 100 < 6 then -1 - ${h(2)} % 10 when ${h(1)} % 100 < 66 then 0
                 when ${h(1)} % 100 < 90 then 1 + ${h(2)} % 10 else 11 + ${h(2)} % 90 end,
            -- 30 % without a score
            case when ${h(4)} % 10 < 3 then null else (${h(5)} % 1000000000)::numeric / 1000000000 end,
            case when n % 10 = 0 then '${BULK_BATCH}' else format('batch-2026-%s', lpad((1 + ${h(6)} % ${BATCHES})::text, 3, '0')) end,
            n % 500 = 7,
            case when ${fate.assigned} then
              case when ${fate.inReview} then ($4::bigint[])[1 + n % array_length($4::bigint[], 1)]
                   else ($3::bigint[])[1 + n % array_length($3::bigint[], 1)] end end,
            case when ${fate.assigned} then ${status} end,
            case when ${fate.assigned} then
              case when ${fate.rejected} then 'returned' when ${status} = 'assigned' then 'manual' else 'auto' end end,
            ${fate.assigned} and ${status} = 'issue',
            c.created_at,
            coalesce(s.submitted_at, c.created_at),
            s.submitted_at,
            case when s.submitted_at is not null then ($3::bigint[])[1 + n % array_length($3::bigint[], 1)] end
     from generate_series(1, $2::int) as n
     -- created over the year before SEED_NOW, oldest first; submitted (all but new tasks) up to 30 days later
     cross join lateral (select timestamptz '${SEED_NOW}' - interval '365 days' + (n::float8 / $2) * interval '365 days' as created_at) c
     cross join lateral (select case when ${spread ? 'n % 100 >= 50' : 'n % 100 >= 85'}
                                     then least(c.created_at + (${h(8)} % 43200) * interval '1 minute', timestamptz '${SEED_NOW}') end as submitted_at) s`,
    [seed.projectId, seed.tasks, seed.labelers, seed.reviewers],
  );
  lap('tasks');
  await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, issue_comment, created_at, updated_at)
     select t.id, t.stage_id, t.assignee_id, t.assignment_status, t.assignment_kind,
            case when t.assignment_status = 'issue' then 'The image does not load' end,
            t.created_at + interval '1 hour', coalesce(t.last_submitted_at, t.created_at + interval '1 hour')
     from tasks t where t.project_id = $1 and t.assignee_id is not null`,
    [seed.projectId],
  );
  lap('assignments');
  await client.query(
    `update tasks t set assignment_id = a.id
     from assignments a
     where a.task_id = t.id and t.project_id = $1
       and a.status in ('assigned', 'saved', 'pending_finalization', 'skipped', 'issue')`,
    [seed.projectId],
  );
  lap('open assignments mirrored on tasks');
  // runs the deferred foreign-key checks of assignment_id now: CREATE INDEX refuses pending ones
  await client.query('set constraints all immediate');
  for (const ix of indexes) {
    await client.query(ix.def);
    // each index says which query it serves (see the initial migration)
    if (ix.comment) await client.query(`comment on index ${quoteIdent(ix.name)} is ${pg.escapeLiteral(ix.comment)}`);
  }
  lap(`${indexes.length} indexes rebuilt`);
  await client.query('commit');
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Finished work for the dashboard (`bench:list`'s dashboard view): what a year of labeling and
 * review leaves behind, so the Overview's throughput, people and review figures aggregate
 * realistic volumes. Every task past Label (and every rejected one) has a finalized Label
 * assignment; every task in Ground Truth (and every rejected one) a finalized review with an
 * outcome (accepted 80 %, corrected 15 %, rejected for the rejected tasks); delivered and
 * acknowledged tasks have their client events. Dates spread over the 365 days before the call
 * (not SEED_NOW: the dashboard's windows end today). Idempotent: does nothing when the project
 * already has finalized work. Returns the number of finalized assignments written.
 */
export async function seedHistory(client: pg.Client, seed: SeededProject, log: (msg: string) => void = () => {}): Promise<number> {
  const { rows: done } = await client.query<{ n: number }>(
    `select count(*)::int as n from (select 1 from assignments where stage_id = any($1::bigint[]) and status = 'finalized' limit 1) x`,
    [[seed.stages.label, seed.stages.review]],
  );
  if (done[0].n > 0) return 0;
  const started = Date.now();
  const { label, review } = seed.stages;
  // task number n of the seed is its rank by id; each task's day is a hash of its id
  const base = `
    from (select t.id, t.project_id, t.state, t.stage_id, row_number() over (order by t.id) as n from tasks t where t.project_id = $1) t
    cross join lateral (select now() - ((hashint8extended(t.id, 11) & 1073741823) % (365 * 1440)) * interval '1 minute' as at) d`;
  await client.query('begin');
  const labels = await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, created_at, updated_at, finalized_at)
     select t.id, $2::bigint, ($3::bigint[])[1 + t.n % array_length($3::bigint[], 1)], 'finalized', 'auto',
            d.at - ((hashint8extended(t.id, 12) & 1023) % 240 + 2) * interval '1 minute', d.at, d.at
     ${base}
     where t.state = 'rejected' or t.stage_id <> $2::bigint`,
    [seed.projectId, label, seed.labelers],
  );
  const reviews = await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, outcome, created_at, updated_at, finalized_at)
     select t.id, $3::bigint, ($4::bigint[])[1 + t.n % array_length($4::bigint[], 1)], 'finalized', 'auto',
            case when t.state = 'rejected' then 'rejected' when (hashint8extended(t.id, 13) & 1023) % 100 < 15 then 'corrected' else 'accepted' end,
            d.at + interval '2 hours', d.at + interval '3 hours', least(now(), d.at + interval '3 hours')
     ${base}
     where t.state = 'rejected' or t.stage_id not in ($2::bigint, $3::bigint)`,
    [seed.projectId, label, review, seed.reviewers],
  );
  const events = await client.query(
    `insert into task_events (task_id, project_id, actor_id, kind, before, after, created_at)
     select t.id, t.project_id, null, k.kind, null, jsonb_build_object('state', k.kind), least(now(), d.at + k.after)
     ${base}
     cross join lateral (values ('delivered', interval '1 day'), ('acknowledged', interval '2 days')) k(kind, after)
     where (k.kind = 'delivered' and t.state in ('delivered', 'acknowledged')) or (k.kind = 'acknowledged' and t.state = 'acknowledged')`,
    [seed.projectId],
  );
  await client.query('commit');
  await client.query('vacuum (analyze) assignments');
  await client.query('vacuum (analyze) task_events');
  log(`history: ${labels.rowCount} label and ${reviews.rowCount} review assignments, ${events.rowCount} client events in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return (labels.rowCount ?? 0) + (reviews.rowCount ?? 0);
}
