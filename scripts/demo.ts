/**
 * `npm run demo`: fills a demo project so a newcomer sees a living system — members with
 * roles, Label → Review_1 → Ground Truth, an input/output schema and 10,000 tasks spread over
 * stages, states, priorities, scores, batches, assignments, answer sets and history.
 * Uses the same database as `npm start` (embedded, or DATABASE_URL). Safe to run twice.
 */
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { User, type IUser } from '../src/modules/users/user.entity.ts';

const PASSWORD = 'tasklane-demo';
const SLUG = 'street-scenes-demo';
const TASKS = 10_000;

const people = [
  { email: 'admin@demo.tasklane', name: 'Avery Admin', isAdmin: true, role: 'admin' as const },
  { email: 'maya@demo.tasklane', name: 'Maya Manager', isAdmin: false, role: 'manager' as const },
  { email: 'lee@demo.tasklane', name: 'Lee Labeler', isAdmin: false, role: 'member' as const },
  { email: 'sam@demo.tasklane', name: 'Sam Labeler', isAdmin: false, role: 'member' as const },
  { email: 'kim@demo.tasklane', name: 'Kim Labeler', isAdmin: false, role: 'member' as const },
  { email: 'noor@demo.tasklane', name: 'Noor Labeler', isAdmin: false, role: 'member' as const },
  { email: 'rui@demo.tasklane', name: 'Rui Reviewer', isAdmin: false, role: 'member' as const },
  { email: 'ivy@demo.tasklane', name: 'Ivy Reviewer', isAdmin: false, role: 'member' as const },
];

async function main() {
  const config = loadConfig();
  const say = (msg: string) => console.log(`[demo] ${msg}`);
  const database = await openDatabase(config, say);
  await migrate(database.url);
  const orm = await MikroORM.init(ormConfig(database.url));
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const em = orm.em.fork();
    const services = createServices(em);

    const existing = await client.query('select id from projects where slug = $1', [SLUG]);
    if (existing.rowCount) {
      say(`the demo project already exists (id ${existing.rows[0].id}); nothing to do`);
      return;
    }

    const users: Record<string, IUser> = {};
    for (const person of people) {
      users[person.email] =
        (await em.findOne(User, { email: person.email })) ??
        (await services.users.create({ email: person.email, name: person.name, password: PASSWORD, isAdmin: person.isAdmin })).user;
    }
    const admin = users['admin@demo.tasklane'];
    const project = await services.projects.create(admin, {
      name: 'Street scenes (demo)',
      description: 'Dash-cam frames: mark pedestrians, count vehicles, describe the weather.',
      reviewStages: 1,
    });
    const access = await services.projects.access(admin, project.id, 'admin');
    project.instructionsUrl = 'https://example.org/labeling-guide';
    await services.projects.updateSchemas(
      access,
      [
        { name: 'image_url', type: 'image_url', required: true },
        { name: 'camera', type: 'text', required: false },
        { name: 'captured_at', type: 'date', required: false },
      ],
      [
        { name: 'contains_pedestrian', type: 'boolean' },
        { name: 'vehicle_count', type: 'number' },
        { name: 'weather', type: 'choice', options: ['clear', 'rain', 'fog', 'snow'] },
        { name: 'hazards', type: 'multi_choice', options: ['roadworks', 'debris', 'animal', 'glare'] },
        { name: 'notes', type: 'text' },
      ],
    );
    const stages = await services.projects.stages(project);
    const [label, review] = stages;
    await services.projects.updateSettings(access, {
      name: project.name, slug: project.slug, description: project.description, instructionsUrl: project.instructionsUrl ?? undefined,
      autoAssign: true, queueSize: 1, reservationMinutes: 120, reviewPercents: { [review.id]: 50 },
    });
    for (const person of people.slice(1)) {
      const stageIds = person.email.startsWith('rui') || person.email.startsWith('ivy') ? [review.id] : person.role === 'member' ? [label.id] : [];
      await services.members.add(access, person.email, { role: person.role, stageIds });
    }

    const labelers = ['lee', 'sam', 'kim', 'noor'].map((n) => users[`${n}@demo.tasklane`].id);
    const reviewers = ['rui', 'ivy'].map((n) => users[`${n}@demo.tasklane`].id);
    say(`inserting ${TASKS.toLocaleString()} tasks`);
    await seedTasks(client, { projectId: project.id, labelId: label.id, reviewId: review.id, groundTruthId: stages[2].id, labelers, reviewers, managerId: users['maya@demo.tasklane'].id });

    say(`done: project “${project.name}” (id ${project.id})`);
    say(`sign in as admin@demo.tasklane, maya@demo.tasklane (manager), lee@demo.tasklane (labeler) or rui@demo.tasklane (reviewer); password “${PASSWORD}”`);
  } finally {
    await client.end();
    await orm.close();
    await database.stop();
  }
}

interface SeedIds {
  projectId: number;
  labelId: number;
  reviewId: number;
  groundTruthId: number;
  labelers: number[];
  reviewers: number[];
  managerId: number;
}

/** Set-based inserts: one statement per table, spreads chosen by the task number. */
async function seedTasks(client: pg.Client, ids: SeedIds) {
  await client.query('begin');
  // n % 100 decides the fate of task n: 0-54 Label untouched, 55-64 Label in progress, 65-66 rejected,
  // 67-79 Review_1, 80-91 Ground Truth completed, 92-96 delivered, 97-99 acknowledged
  await client.query(
    `insert into tasks (project_id, name, data, metadata, state, stage_id, priority, priority_score, client_batch_id, held,
                        created_at, last_activity_at, last_submitted_at, last_submitted_by_id, created_by_id)
     select $1, format('frame-%s', lpad(n::text, 6, '0')),
            jsonb_build_object('image_url', format('https://picsum.photos/seed/tasklane-%s/640/400', n),
                               'camera', (array['front-left','front-center','front-right','rear'])[1 + n % 4],
                               'captured_at', to_char(date '2026-06-01' + (n % 120), 'YYYY-MM-DD')),
            jsonb_build_object('city', (array['Lyon','Porto','Gdansk','Turin','Ghent'])[1 + n % 5], 'route', format('R-%s', n % 37)),
            case when n % 100 < 65 then 'new' when n % 100 < 67 then 'rejected' when n % 100 < 80 then 'in_progress'
                 when n % 100 < 92 then 'completed' when n % 100 < 97 then 'delivered' else 'acknowledged' end,
            case when n % 100 < 67 then $2::bigint when n % 100 < 80 then $3::bigint else $4::bigint end,
            case when n % 23 = 0 then -5 when n % 11 = 0 then 1 when n % 7 = 0 then 5 when n % 97 = 0 then 10 else 0 end,
            case when n % 10 < 3 then null else round(((n * 7919) % 1000000)::numeric / 1000000, 6) end,
            format('batch-2026-%s', lpad((1 + n % 6)::text, 2, '0')),
            n % 250 = 0,
            timestamptz '2026-09-01' + (n * interval '9 minutes'),
            timestamptz '2026-09-01' + (n * interval '9 minutes') + interval '1 hour',
            -- submitted over the 8 weeks before today, so the Overview's charts have recent work to show
            case when n % 100 >= 67 or n % 100 in (65, 66) then now() - interval '56 days' + (n * interval '8 minutes') end,
            case when n % 100 >= 67 or n % 100 in (65, 66) then ($5::bigint[])[1 + n % 4] end,
            null
     from generate_series(1, $6) as n`,
    [ids.projectId, ids.labelId, ids.reviewId, ids.groundTruthId, ids.labelers, TASKS],
  );
  const num = `(substring(t.name from 7)::int)`;
  // open work: Label in progress (assigned / saved / pending), rejected returns, review assignments
  await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, created_at, updated_at)
     select t.id, t.stage_id,
            case when t.stage_id = $2 then ($4::bigint[])[1 + ${num} % 4] else ($5::bigint[])[1 + ${num} % 2] end,
            case when ${num} % 100 in (65, 66) then 'assigned'
                 when t.stage_id = $3 then (array['assigned','saved'])[1 + ${num} % 2]
                 else (array['assigned','saved','pending_finalization','skipped'])[1 + ${num} % 4] end,
            case when ${num} % 100 in (65, 66) then 'returned' when ${num} % 3 = 0 then 'manual' else 'auto' end,
            t.created_at + interval '2 days', t.created_at + interval '2 days'
     from tasks t
     where t.project_id = $1 and ((t.stage_id = $2 and ${num} % 100 between 55 and 66) or (t.stage_id = $3 and ${num} % 3 <> 0))`,
    [ids.projectId, ids.labelId, ids.reviewId, ids.labelers, ids.reviewers],
  );
  await client.query(
    `update tasks t set assignment_id = a.id, assignee_id = a.user_id, assignment_status = a.status, assignment_kind = a.kind,
            lease_expires_at = case when a.kind = 'auto' and a.status = 'assigned' then now() + interval '2 hours' end,
            state = case when t.state = 'new' and a.status <> 'assigned' then 'in_progress' else t.state end
     from assignments a where a.task_id = t.id and t.project_id = $1`,
    [ids.projectId],
  );
  // finalized labels for everything past Label (and for rejected ones, their first attempt)
  await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, created_at, updated_at, finalized_at, outcome)
     select t.id, $2, t.last_submitted_by_id, 'finalized', 'auto', t.last_submitted_at - ((${num} * 37) % 240 + 3) * interval '1 minute',
            t.last_submitted_at, t.last_submitted_at, null
     from tasks t where t.project_id = $1 and t.last_submitted_by_id is not null`,
    [ids.projectId, ids.labelId],
  );
  // finished reviews: everything in Ground Truth was accepted (every 9th corrected), rejected tasks were rejected
  await client.query(
    `insert into assignments (task_id, stage_id, user_id, status, kind, created_at, updated_at, finalized_at, outcome)
     select t.id, $2, ($3::bigint[])[1 + ${num} % 2], 'finalized', 'auto', r.at - ((${num} * 13) % 90 + 2) * interval '1 minute', r.at, r.at,
            case when t.state = 'rejected' then 'rejected' when ${num} % 9 = 0 then 'corrected' else 'accepted' end
     from tasks t cross join lateral (select least(now(), t.last_submitted_at + interval '20 hours') as at) r
     where t.project_id = $1 and (t.stage_id = $4 or t.state = 'rejected')`,
    [ids.projectId, ids.reviewId, ids.reviewers, ids.groundTruthId],
  );
  const answers = `jsonb_build_object(
      'contains_pedestrian', ${num} % 3 = 0,
      'vehicle_count', ${num} % 9,
      'weather', (array['clear','rain','fog','snow'])[1 + ${num} % 4],
      'hazards', case when ${num} % 5 = 0 then '["roadworks"]'::jsonb when ${num} % 7 = 0 then '["glare","debris"]'::jsonb else '[]'::jsonb end,
      'notes', case when ${num} % 13 = 0 then 'Partly occluded by a bus' else '' end)`;
  await client.query(
    `insert into answer_sets (task_id, stage_id, assignment_id, user_id, kind, answers, submitted, created_at, updated_at)
     select a.task_id, a.stage_id, a.id, a.user_id, 'submission', ${answers}, true, a.finalized_at, a.finalized_at
     from assignments a join tasks t on t.id = a.task_id
     where t.project_id = $1 and a.status = 'finalized'`,
    [ids.projectId],
  );
  // model predictions for 40 % of the tasks
  await client.query(
    `insert into answer_sets (task_id, kind, answers, submitted, created_at, updated_at)
     select t.id, 'default', ${answers.replace(`${num} % 9`, `(${num} + 1) % 9`)}, true, t.created_at, t.created_at
     from tasks t where t.project_id = $1 and ${num} % 5 < 2`,
    [ids.projectId],
  );
  // no `created` events: a task's history derives its creation from the task row
  await client.query(
    `insert into task_events (task_id, project_id, actor_id, kind, before, after, created_at)
     select a.task_id, $1, a.user_id, 'finalized', jsonb_build_object('stage', 'Label'),
            jsonb_build_object('stage', s.name), a.finalized_at
     from assignments a join tasks t on t.id = a.task_id join stages s on s.id = t.stage_id
     where t.project_id = $1 and a.status = 'finalized'`,
    [ids.projectId],
  );
  await client.query(
    `insert into task_events (task_id, project_id, actor_id, kind, before, after, note, created_at)
     select t.id, $1, $2, 'review_rejected', jsonb_build_object('stage', 'Review_1'), jsonb_build_object('stage', 'Label', 'state', 'rejected'),
            'Vehicle count misses the parked cars', least(now(), t.last_submitted_at + interval '20 hours')
     from tasks t where t.project_id = $1 and t.state = 'rejected'`,
    [ids.projectId, ids.reviewers[0]],
  );
  // the client's side: delivered, then acknowledged
  await client.query(
    `insert into task_events (task_id, project_id, actor_id, kind, before, after, created_at)
     select t.id, $1, null, k.kind, null, jsonb_build_object('state', k.kind), least(now(), t.last_submitted_at + k.after)
     from tasks t cross join lateral (values ('delivered', interval '1 day'), ('acknowledged', interval '2 days')) k(kind, after)
     where t.project_id = $1 and (t.state = 'acknowledged' or (k.kind = 'delivered' and t.state = 'delivered'))`,
    [ids.projectId],
  );
  await client.query('commit');
  await client.query('analyze tasks, assignments, answer_sets, task_events');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
