/**
 * The load of `bench:list`'s `worst_p95_under_load_ms`: while the task list views are measured,
 * ANNOTATORS annotators request next and finalize through the API in a loop (the allocation
 * bench's cycle) and uploads run one after another through the API, on the same server and project.
 * It runs on a copy of the seeded database, so the next run finds the seed unchanged.
 */
import { mkdtempSync, openAsBlob, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

function csv(path: string, upload: number) {
  let text = 'name,image,priority,client_batch_id\n';
  for (let i = 1; i <= UPLOAD_ROWS; i++) text += `load-${upload}-${i},https://images.example.org/load/${upload}/${i}.jpg,${i % 7},load-batch-${upload}\n`;
  writeFileSync(path, text);
}

/** Starts the annotators and the uploads against `baseUrl`; returns once they are all running. */
export async function startLoad(baseUrl: string, databaseUrl: string, seed: SeededProject, log: (msg: string) => void): Promise<Load> {
  const keys = await tokens(databaseUrl, seed);
  const api = `${baseUrl}/api/v1/projects/${seed.projectId}`;
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-load-'));
  let running = true;
  let cycles = 0;
  let errors = 0;
  let uploadedRows = 0;
  let uploads = 0;
  const cycleMs: number[] = [];
  const started = performance.now();

  const annotator = async (token: string) => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    while (running) {
      const t0 = performance.now();
      const next = await fetch(`${api}/stages/Label/next`, { method: 'POST', headers, body: '{}' });
      const body = (await next.json()) as { items?: { id: number; version: number }[] };
      const task = body.items?.[0];
      if (!next.ok || !task) {
        errors++;
        continue;
      }
      const done = await fetch(`${api}/tasks/${task.id}/finalization`, { method: 'POST', headers, body: JSON.stringify({ answers: {}, version: task.version }) });
      await done.arrayBuffer();
      if (!done.ok) errors++;
      else {
        cycles++;
        cycleMs.push(performance.now() - t0);
      }
    }
  };

  const uploader = async () => {
    while (running) {
      const path = join(dir, `load-${uploads}.csv`);
      csv(path, uploads);
      const form = new FormData();
      form.append('file', await openAsBlob(path, { type: 'text/csv' }), `load-${uploads}.csv`);
      const res = await fetch(`${api}/uploads`, { method: 'POST', headers: { authorization: `Bearer ${keys.admin}` }, body: form });
      if (res.status !== 202) throw new Error(`load upload answered ${res.status}: ${await res.text()}`);
      const { id } = (await res.json()) as { id: number };
      uploads++;
      for (;;) {
        const status = (await (await fetch(`${api}/uploads/${id}`, { headers: { authorization: `Bearer ${keys.admin}` } })).json()) as { status: string; rows: { succeeded: number } };
        if (!['queued', 'processing', 'receiving'].includes(status.status)) {
          uploadedRows += status.rows.succeeded;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const workers = [...keys.annotators.map(annotator), uploader()];
  // let the load reach its steady state before anything is measured
  await new Promise((r) => setTimeout(r, 3000));
  log(`load running: ${ANNOTATORS} annotators (${cycles} cycles in the first 3 s), uploads of ${UPLOAD_ROWS.toLocaleString('en-US')} rows`);
  return {
    async stop() {
      running = false;
      const seconds = (performance.now() - started) / 1000;
      await Promise.all(workers);
      rmSync(dir, { recursive: true, force: true });
      return { cycles, cyclesPerS: Math.round(cycles / seconds), cycleP95Ms: round1(percentile(cycleMs, 95)), errors, uploadedRows, uploads };
    },
  };
}
