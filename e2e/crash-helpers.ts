import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';

/** An admin and a project with `tasks` tasks (inserted in SQL: the crash is what is under test, not uploads). */
export async function arrangeProject(databaseUrl: string, db: pg.Client, tasks: number) {
  const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
  try {
    const services = createServices(orm.em.fork());
    const admin = await services.users.createFirstAdmin({ email: 'crash@example.org', name: 'Crash Admin', password: 'correct horse battery' });
    const project = await services.projects.create(admin, { name: 'Crash test', reviewStages: 1 });
    const [{ id: labelId }] = (await db.query(`select id from stages where project_id = $1 and kind = 'label'`, [project.id])).rows;
    await db.query(`insert into tasks (project_id, name, stage_id) select $1, 'crash-' || n, $2 from generate_series(1, $3::int) n`, [project.id, labelId, tasks]);
    return { projectId: project.id, adminId: admin.id };
  } finally {
    await orm.close();
  }
}

/** Sends a job as the app would (the tracking row is made by the test), from a pg-boss that runs no maintenance. */
export async function sendJob(databaseUrl: string, name: string, data: object): Promise<void> {
  const boss = new PgBoss({ connectionString: databaseUrl, max: 1, supervise: false, schedule: false });
  await boss.start();
  try {
    await boss.send(name, data);
  } finally {
    await boss.stop({ graceful: false });
  }
}

/** When a job of `name` was last taken by a worker (pg-boss's own record). */
export async function lastStartedAt(db: pg.Client, name: string): Promise<number> {
  const { rows } = await db.query(`select max(started_on) as at from pgboss.job where name = $1`, [name]);
  return rows[0].at ? new Date(rows[0].at).getTime() : 0;
}

/**
 * A bulk "set priority 7" over every task of a fresh project of `tasks` tasks, sent as a job the way
 * the app sends it; resolves once its first chunk has committed (a kill now lands mid-way).
 */
export async function startBulkPriority(databaseUrl: string, db: pg.Client, tasks: number, chunkSize: number, jobName: string) {
  const { projectId, adminId } = await arrangeProject(databaseUrl, db, tasks);
  const [{ id: operationId }] = (await db.query(
    `insert into bulk_operations (project_id, action, params, selection, created_by_id) values ($1, 'priority', '{"priority": 7}', '{"filter": ""}', $2) returning id::int as id`,
    [projectId, adminId],
  )).rows;
  await sendJob(databaseUrl, jobName, { operationId });
  const operation = async () => (await db.query('select status, total, processed, changed, skipped, resume_after::text as "resumeAfter" from bulk_operations where id = $1', [operationId])).rows[0];
  for (const deadline = Date.now() + 120_000; (await operation()).processed < chunkSize;) {
    if (Date.now() > deadline) throw new Error('the bulk job did not commit its first chunk in 2 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  return { projectId, operationId, operation };
}

