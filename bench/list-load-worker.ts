/**
 * The clients of `bench:list`'s load (bench/list-under-load.ts), in a worker thread of their own:
 * annotators that request next and finalize through the API in a closed loop, and uploads one
 * after another. Stops on the message 'stop' and answers with what it measured (LoadMeasures). It
 * imports nothing of the app: the thread only makes requests.
 */
import { mkdtempSync, openAsBlob, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { JsonClient } from './json-client.ts';
import type { LoadMeasures } from './list-under-load.ts';

const { api, annotators, admin, uploadRows } = workerData as { api: string; annotators: string[]; admin: string; uploadRows: number };
const dir = mkdtempSync(join(tmpdir(), 'tasklane-bench-load-'));
let running = true;
let errors = 0;
let uploadedRows = 0;
let uploads = 0;
const cycleMs: number[] = [];
const started = performance.now();

function csv(path: string, upload: number) {
  let text = 'name,image,priority,client_batch_id\n';
  for (let i = 1; i <= uploadRows; i++) text += `load-${upload}-${i},https://images.example.org/load/${upload}/${i}.jpg,${i % 7},load-batch-${upload}\n`;
  writeFileSync(path, text);
}

async function annotator(token: string) {
  const http = new JsonClient(api, { authorization: `Bearer ${token}` });
  while (running) {
    const t0 = performance.now();
    const next = await http.post<{ items?: { id: number; version: number }[] }>('/stages/Label/next', {});
    const task = next.body.items?.[0];
    if (!next.ok || !task) {
      errors++;
      continue;
    }
    const done = await http.post(`/tasks/${task.id}/finalization`, { answers: {}, version: task.version });
    if (!done.ok) errors++;
    else cycleMs.push(performance.now() - t0);
  }
  http.close();
}

async function uploader() {
  const auth = { authorization: `Bearer ${admin}` };
  const http = new JsonClient(api, auth);
  while (running) {
    const path = join(dir, `load-${uploads}.csv`);
    csv(path, uploads);
    const form = new FormData();
    form.append('file', await openAsBlob(path, { type: 'text/csv' }), `load-${uploads}.csv`);
    const res = await fetch(`${api}/uploads`, { method: 'POST', headers: auth, body: form });
    if (res.status !== 202) throw new Error(`load upload answered ${res.status}: ${await res.text()}`);
    const { id } = (await res.json()) as { id: number };
    uploads++;
    for (;;) {
      const { body: status } = await http.get<{ status: string; rows: { succeeded: number } }>(`/uploads/${id}`);
      if (!['queued', 'processing', 'receiving'].includes(status.status)) {
        uploadedRows += status.rows.succeeded;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  http.close();
}

const clients = [...annotators.map(annotator), uploader()];
parentPort!.once('message', async () => {
  running = false;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients);
  rmSync(dir, { recursive: true, force: true });
  const measures: LoadMeasures = { seconds, cycleMs, errors, uploadedRows, uploads };
  parentPort!.postMessage(measures);
});
