import { readFileSync, writeFileSync } from 'node:fs';
import { generateApiTypes } from '@tasklane/openapi-types';
import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, type TestApp } from './helpers/app.ts';
import type { paths } from './generated/tasklane-api.ts';

const TYPES_FILE = new URL('./generated/tasklane-api.ts', import.meta.url);
const HEADER = '// Generated from /api/docs/json by openapi-typescript (tools/openapi-types). Do not edit: run `npm run api:types`.\n\n';

/**
 * A client generated from the document (openapi-typescript types + openapi-fetch) runs the
 * pipeline an ML team wires up, against a real server on a random port, without a cast.
 */
describe('The generated API client', () => {
  let t: TestApp;
  let baseUrl: string;
  let projectId: number;
  const tokens: Record<'admin' | 'labeler' | 'reviewer', string> = { admin: '', labeler: '', reviewer: '' };
  const client = (who: keyof typeof tokens) => createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${tokens[who]}` } });

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await createAdmin(t);
    const s = t.services();
    const project = await s.projects.create(admin, { name: 'Pipeline', reviewStages: 1 });
    projectId = project.id;
    const access = await s.projects.access(admin, projectId, 'admin');
    await s.projects.updateSchemas(access, [{ name: 'image', type: 'image_url', required: true }], [{ name: 'label', type: 'choice', options: ['cat', 'dog'] }]);
    for (const who of ['labeler', 'reviewer'] as const) {
      const user = await createUser(t, `${who}@example.org`);
      await s.members.add(access, `${who}@example.org`, { role: 'member', stageIds: [] });
      tokens[who] = (await s.apiTokens.create(user, 'pipeline')).token;
    }
    tokens.admin = (await s.apiTokens.create(admin, 'pipeline')).token;
    baseUrl = await t.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => t.close());

  it('has its types generated from the live document (npm run api:types writes them)', async () => {
    const generated = HEADER + (await generateApiTypes((await t.app.inject({ url: '/api/docs/json' })).json()));
    if (process.env.UPDATE_API_TYPES === '1') writeFileSync(TYPES_FILE, generated);
    expect(readFileSync(TYPES_FILE, 'utf8'), 'test/generated/tasklane-api.ts is out of date: run npm run api:types').toBe(generated);
  });

  it('uploads, prioritizes, labels, reviews, delivers and exports through the generated client', async () => {
    const admin = client('admin');
    const path = { projectId };

    // upload a CSV (multipart) and wait for its processing
    const csv = 'name,image\ncat-1,https://img.example.org/1.png\ncat-2,https://img.example.org/2.png\ncat-3,https://img.example.org/3.png\n';
    const created = await admin.POST('/api/v1/projects/{projectId}/uploads', {
      params: { path },
      body: { file: new Blob([csv], { type: 'text/csv' }), clientBatchId: 'batch-7' },
      bodySerializer: ({ file, ...fields }) => {
        const form = new FormData();
        for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
        form.append('file', file, 'tasks.csv');
        return form;
      },
    });
    expect(created.response.status).toBe(202);
    let upload = created.data!;
    while (upload.status === 'queued' || upload.status === 'processing' || upload.status === 'receiving') {
      await new Promise((resolve) => setTimeout(resolve, 100));
      upload = (await admin.GET('/api/v1/projects/{projectId}/uploads/{uploadId}', { params: { path: { projectId, uploadId: upload.id } } })).data!;
    }
    expect(upload).toMatchObject({ status: 'completed', format: 'csv', rows: { succeeded: 3, failed: 0 } });

    // cat-3 first: the lowest priority number is served first
    const tasks = (await admin.GET('/api/v1/projects/{projectId}/tasks', { params: { path, query: { batch: 'batch-7' } } })).data!.items;
    const byName = Object.fromEntries(tasks.map((task) => [task.name, task.id]));
    const prioritized = await admin.POST('/api/v1/projects/{projectId}/tasks/priority', {
      params: { path },
      body: [{ taskId: byName['cat-3'], priority: -1, priorityScore: '0.000000123' }, { taskId: byName['cat-1'], priority: 5 }],
    });
    expect(prioritized.data).toEqual({ changed: 2, skipped: {} });

    // label: request work, finalize the first task with its answers
    const labeler = client('labeler');
    const handed = (await labeler.POST('/api/v1/projects/{projectId}/stages/{stage}/next', { params: { path: { projectId, stage: 'Label' } } })).data!.items;
    expect(handed[0]).toMatchObject({ name: 'cat-3', priority: -1, priorityScore: '0.000000123', stage: { name: 'Label' } });
    const labeled = await labeler.POST('/api/v1/projects/{projectId}/tasks/{taskId}/finalization', {
      params: { path: { projectId, taskId: handed[0].id } },
      body: { answers: { label: 'cat' }, version: handed[0].version },
    });
    expect(labeled.data).toMatchObject({ stage: { name: 'Review_1' }, state: 'in_progress' });

    // review: the reviewer corrects the label; the task completes in Ground Truth
    const reviewer = client('reviewer');
    const toReview = (await reviewer.POST('/api/v1/projects/{projectId}/stages/{stage}/next', { params: { path: { projectId, stage: 'Review_1' } } })).data!.items;
    expect(toReview.map((task) => task.id)).toEqual([handed[0].id]);
    const reviewed = await reviewer.POST('/api/v1/projects/{projectId}/tasks/{taskId}/review', {
      params: { path: { projectId, taskId: handed[0].id } },
      body: { decision: 'correct', answers: { label: 'dog' }, version: toReview[0].version },
    });
    expect(reviewed.data).toEqual({ stage: { id: expect.any(Number), name: 'Ground Truth' }, state: 'completed' });

    // the delivery feed: fetch, then confirm the receipt
    const feed = await admin.POST('/api/v1/projects/{projectId}/deliveries', { params: { path }, body: { limit: 10 } });
    expect(feed.data!.items.map((task) => [task.name, task.answers])).toEqual([['cat-3', { label: 'dog' }]]);
    const receipt = await admin.POST('/api/v1/projects/{projectId}/deliveries/receipt', { params: { path }, body: { taskIds: feed.data!.items.map((task) => task.id) } });
    expect(receipt.data).toEqual({ confirmed: 1 });
    expect((await admin.GET('/api/v1/projects/{projectId}/tasks/{taskId}', { params: { path: { projectId, taskId: handed[0].id } } })).data!.state).toBe('delivered');

    // export the batch as JSON Lines: start, poll, download
    const started = await admin.POST('/api/v1/projects/{projectId}/exports', { params: { path }, body: { format: 'jsonl', filter: 'batch=batch-7' } });
    expect(started.response.status).toBe(202);
    let exported = started.data!;
    while (exported.status === 'queued' || exported.status === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 100));
      exported = (await admin.GET('/api/v1/projects/{projectId}/exports/{exportId}', { params: { path: { projectId, exportId: exported.id } } })).data!;
    }
    expect(exported).toMatchObject({ status: 'completed', rowsWritten: 3 });
    const file = await admin.GET('/api/v1/projects/{projectId}/exports/{exportId}/download', { params: { path: { projectId, exportId: exported.id } }, parseAs: 'text' });
    expect(file.response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const names = (file.data ?? '').trim().split('\n').map((line): string => JSON.parse(line).name);
    expect(names.sort()).toEqual(['cat-1', 'cat-2', 'cat-3']);

    // an error comes back typed as the document's Error
    const refused = await labeler.POST('/api/v1/projects/{projectId}/exports', { params: { path }, body: { format: 'csv' } });
    expect(refused.response.status).toBe(403);
    expect(refused.error).toMatchObject({ error: 'forbidden', message: expect.any(String) });
  });
});
