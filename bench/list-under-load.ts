/**
 * The load of `bench:list`'s `worst_p95_under_load_ms`: while the task list views are measured,
 * ANNOTATORS annotators request next and finalize through the API in a loop (the allocation
 * bench's cycle) and uploads run one after another through the API, on the same server and project.
 * It runs on a copy of the seeded database, so the next run finds the seed unchanged. The load's
 * clients run in a worker thread (bench/list-load-worker.ts): on the benchmark's event loop their
 * responses would delay the measured requests' own.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { percentile, round1 } from './harness.ts';
import type { SeededProject } from './seed-tasks.ts';

export const ANNOTATORS = 32;
/** rows of each upload of the load (one after the other while the views are measured) */
const UPLOAD_ROWS = 100_000;

export interface Load {
  /** stops the annotators and waits for them; the running upload is left to finish on its own */
  stop(): Promise<LoadFigures>;
}

/** What the load's thread measured: the time of each finished cycle, and the rest. */
export interface LoadMeasures {
  seconds: number;
  cycleMs: number[];
  errors: number;
  uploadedRows: number;
  uploads: number;
}

export interface LoadFigures {
  cycles: number;
  cyclesPerS: number;
  cycleP95Ms: number;
  errors: number;
  uploadedRows: number;
  uploads: number;
}

/** Annotator accounts (members of the Label stage) with API tokens, and a token of the admin. */
async function tokens(databaseUrl: string, seed: SeededProject) {
  const orm = await MikroORM.init(ormConfig(databaseUrl, { pool: { min: 0, max: 2 } }));
  try {
    const s = createServices(orm.em.fork());
    const admin = await s.users.users.findById(seed.adminId);
    if (!admin) throw new Error('the seeded admin is missing');
    const access = await s.projects.access(admin, seed.projectId, 'admin');
    const annotators: string[] = [];
    for (let i = 0; i < ANNOTATORS; i++) {
      const fork = createServices(orm.em.fork());
      const email = `load-annotator${i}@bench.tasklane`;
      const { user } = await fork.users.create({ email, name: `Load annotator ${i}` });
      await fork.members.add(access, email, { role: 'member', stageIds: [seed.stages.label] });
      annotators.push((await fork.apiTokens.create(user, 'load')).token);
    }
    return { annotators, admin: (await s.apiTokens.create(admin, 'load uploads')).token };
  } finally {
    await orm.close();
  }
}

/** Starts the annotators and the uploads against `baseUrl`; returns once they are all running. */
export async function startLoad(baseUrl: string, databaseUrl: string, seed: SeededProject, log: (msg: string) => void): Promise<Load> {
  const keys = await tokens(databaseUrl, seed);
  const worker = new Worker(new URL('./list-load-worker.ts', import.meta.url), {
    workerData: { api: `${baseUrl}/api/v1/projects/${seed.projectId}`, annotators: keys.annotators, admin: keys.admin, uploadRows: UPLOAD_ROWS },
  });
  const failed = once(worker, 'error');
  // let the load reach its steady state before anything is measured
  await Promise.race([new Promise((r) => setTimeout(r, 3000)), failed]);
  log(`load running: ${ANNOTATORS} annotators, uploads of ${UPLOAD_ROWS.toLocaleString('en-US')} rows`);
  return {
    async stop() {
      const measured = once(worker, 'message') as Promise<[LoadMeasures]>;
      worker.postMessage('stop');
      const [m] = await Promise.race([measured, failed.then(([err]) => { throw err; })]);
      await worker.terminate();
      const cycles = m.cycleMs.length;
      return { cycles, cyclesPerS: Math.round(cycles / m.seconds), cycleP95Ms: round1(percentile(m.cycleMs, 95)), errors: m.errors, uploadedRows: m.uploadedRows, uploads: m.uploads };
    },
  };
}
