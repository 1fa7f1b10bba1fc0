import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { limitApiConcurrency } from '../src/plugins/app/api-concurrency.ts';

/** A server whose `/work` requests stay open until the test lets them go; counts how many run at once. */
async function server(limit: number) {
  const app: FastifyInstance = Fastify();
  const held: Array<() => void> = [];
  const stats = { running: 0, most: 0, started: 0 };
  const hold = async () => {
    stats.started++;
    stats.most = Math.max(stats.most, ++stats.running);
    await new Promise<void>((resolve) => held.push(resolve));
    stats.running--;
    return { ok: true };
  };
  await app.register(async (api) => {
    limitApiConcurrency(api, limit);
    api.get('/work', hold);
    api.get('/download', { config: { transfer: true } }, hold);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  /** lets the held requests go, until none is left (the ones that were waiting start meanwhile) */
  const releaseAll = async () => {
    while (stats.running > 0 || held.length) {
      held.splice(0).forEach((go) => go());
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  };
  return { app, base, stats, releaseAll, until };
}

let current: FastifyInstance | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('API concurrency limit', () => {
  it('runs at most the limit at once and answers every request, in order of arrival', async () => {
    const s = await server(2);
    current = s.app;
    const answers = Array.from({ length: 5 }, () => fetch(`${s.base}/work`).then((r) => r.status));
    await s.until(() => s.stats.started === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.stats.started).toBe(2); // the other three wait their turn
    await s.releaseAll();
    expect(await Promise.all(answers)).toEqual([200, 200, 200, 200, 200]);
    expect(s.stats.most).toBe(2);
    expect(s.stats.started).toBe(5);
  });

  it('does not count transfers (streamed uploads and downloads)', async () => {
    const s = await server(1);
    current = s.app;
    const work = fetch(`${s.base}/work`);
    const downloads = [fetch(`${s.base}/download`), fetch(`${s.base}/download`)];
    await s.until(() => s.stats.started === 3);
    expect(s.stats.running).toBe(3);
    await s.releaseAll();
    expect((await work).status).toBe(200);
    expect((await Promise.all(downloads)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('gives the slot of a client that hung up to the next request', async () => {
    const s = await server(1);
    current = s.app;
    const first = fetch(`${s.base}/work`);
    await s.until(() => s.stats.started === 1);
    // a second client waits for the slot, then goes away
    const gone = httpRequest(`${s.base}/work`);
    gone.on('error', () => undefined);
    gone.end();
    await new Promise((r) => setTimeout(r, 50));
    gone.destroy();
    await s.releaseAll();
    expect((await first).status).toBe(200);
    // the slot is free again: a new request runs at once
    const next = fetch(`${s.base}/work`);
    await s.until(() => s.stats.running === 1);
    expect(s.stats.running).toBe(1);
    await s.releaseAll();
    expect((await next).status).toBe(200);
  });
});
