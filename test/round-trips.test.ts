import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';

/**
 * The API's hot paths (issue 12): request next and finalize make at most two database round trips
 * per HTTP request, the token and access check included. Counted at the driver: every query the
 * app's connections send during the request (pg-boss's own housekeeping left out).
 */
describe('Round trips of the work API', () => {
  let t: TestApp;
  let token: string;
  let projectId: number;
  const sent: string[] = [];
  const original = pg.Client.prototype.query;

  beforeAll(async () => {
    t = await createTestApp({ RUN_WORKERS: 'false' });
    const admin = await createAdmin(t);
    token = (await t.services().apiTokens.create(admin, 'rt')).token;
    const project = await t.services().projects.create(admin, { name: 'Round trips', reviewStages: 1 });
    projectId = project.id;
    const [{ id: label }] = await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]);
    await t.sql(`insert into tasks (project_id, name, stage_id) select $1, 'rt-' || n, $2 from generate_series(1, 5) n`, [projectId, label]);
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text ?? '';
      if (!/pgboss/.test(text)) sent.push(text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
  });
  afterAll(async () => {
    pg.Client.prototype.query = original;
    await t.close();
  });

  const during = async <T>(fn: () => Promise<T>): Promise<{ result: T; queries: string[] }> => {
    sent.length = 0;
    const result = await fn();
    return { result, queries: [...sent] };
  };
  const api = (path: string) => request(t.app.server).post(`/api/v1/projects/${projectId}${path}`).set('Authorization', `Bearer ${token}`);

  it('request next: two round trips', async () => {
    const { result, queries } = await during(() => api('/stages/Label/next'));
    expect(result.status).toBe(200);
    expect(result.body.items).toHaveLength(1);
    expect(queries.length, queries.join('\n---\n')).toBe(2);
  });

  it('finalize: two round trips', async () => {
    const [item] = (await api('/stages/Label/next')).body.items;
    const { result, queries } = await during(() => api(`/tasks/${item.id}/finalization`).send({}));
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ stage: { id: expect.any(Number), name: 'Review_1' }, state: 'in_progress' });
    expect(queries.length, queries.join('\n---\n')).toBe(2);
  });
});
