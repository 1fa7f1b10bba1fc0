import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from './helpers/app.ts';

type Operation = {
  operationId?: string;
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>;
};
type Document = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
};

const redocly = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js');

let t: TestApp;
let doc: Document;
const operations = () => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

beforeAll(async () => {
  t = await createTestApp();
  doc = (await t.app.inject({ url: '/api/docs/json' })).json();
});
afterAll(() => t.close());

describe('The OpenAPI document', () => {
  it('passes redocly lint with the recommended rules (redocly.yaml), offline, with no error and no warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tasklane-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(doc));
      const run = await promisify(execFile)(process.execPath, [redocly, 'lint', file, '--config', 'redocly.yaml', '--format', 'json'], {
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      }).catch((err: { stdout: string; stderr: string }) => err);
      const report = JSON.parse(run.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
      const problems = report.problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
      expect(problems).toEqual([]);
      expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the server, and keeps /api/v1 in the paths: a client takes the site as its base URL', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
    expect(operations().every(({ path }) => path.startsWith('/api/v1/'))).toBe(true);
  });

  it('names the configured PUBLIC_URL as the server', async () => {
    const configured = await createTestApp({ PUBLIC_URL: 'https://tasklane.example.org/' });
    try {
      expect((await configured.app.inject({ url: '/api/docs/json' })).json().servers).toEqual([{ url: 'https://tasklane.example.org', description: expect.any(String) }]);
    } finally {
      await configured.close();
    }
  });

  it('gives every operation a unique camelCase operationId', () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.filter((id) => !/^[a-z][A-Za-z]+$/.test(id ?? ''))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['listTasks', 'getTask', 'requestNext', 'finalizeTask', 'reviewTask', 'createUpload', 'fetchDeliveries', 'createExport', 'downloadExport']));
  });

  it('publishes the resources as named schemas, referenced by the operations', () => {
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining([
      'Task', 'TaskDetail', 'Assignment', 'Upload', 'UploadRequest', 'Export', 'Archive', 'Error', 'Stage', 'StageRef', 'Project', 'QueueItem', 'WorkItem', 'DeliveredTask', 'ProjectStats',
    ]));
    const json = (op: Operation, status: string) => op.responses[status]?.content?.['application/json']?.schema;
    expect(json(doc.paths['/api/v1/projects/{projectId}/tasks/{taskId}'].get, '200')).toEqual({ $ref: '#/components/schemas/TaskDetail' });
    expect(json(doc.paths['/api/v1/projects/{projectId}/exports'].post, '202')).toEqual({ $ref: '#/components/schemas/Export' });
    // no schema is published under a generated name
    expect(Object.keys(doc.components.schemas).filter((name) => /^def-\d+$/.test(name))).toEqual([]);
  });

  it('answers every error in the Error shape, and documents 401 everywhere and 400/413/415 wherever a JSON body is read', () => {
    const wrong: string[] = [];
    for (const { path, method, op } of operations()) {
      const statuses = Object.keys(op.responses);
      if (!statuses.includes('401')) wrong.push(`${method} ${path}: no 401`);
      if (op.requestBody?.content['application/json'] && !['400', '413', '415'].every((s) => statuses.includes(s))) wrong.push(`${method} ${path}: a JSON body without 400/413/415`);
      for (const status of statuses.filter((s) => Number(s) >= 400)) {
        const schema = op.responses[status].content?.['application/json']?.schema;
        if (schema?.$ref !== '#/components/schemas/Error') wrong.push(`${method} ${path} ${status}: not the Error schema`);
        if (op.responses[status].description === 'Default Response') wrong.push(`${method} ${path} ${status}: no description`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('describes the upload as a multipart body with a binary file and its fields', () => {
    const op = doc.paths['/api/v1/projects/{projectId}/uploads'].post;
    expect(Object.keys(op.requestBody!.content)).toEqual(['multipart/form-data']);
    expect(op.requestBody!.content['multipart/form-data'].schema).toEqual({ $ref: '#/components/schemas/UploadRequest' });
    const form = doc.components.schemas.UploadRequest as { required: string[]; properties: Record<string, { type: string; format?: string }> };
    expect(form.required).toEqual(['file']);
    expect(form.properties.file).toMatchObject({ type: 'string', format: 'binary' });
    expect(Object.keys(form.properties)).toEqual(['file', 'defaultPriority', 'defaultPriorityScore', 'clientBatchId']);
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '403', '404', '409', '413', '415', '422']));
  });

  it('allows null where the server sends it: the format of an upload that is still queued', () => {
    const upload = doc.components.schemas.Upload.properties as Record<string, { anyOf?: unknown[] }>;
    expect(upload.format.anyOf).toContainEqual({ type: 'null' });
  });
});
