import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { collectErrors, launchBrowser, type RunningServer, startServer } from './helpers.ts';

const servers: RunningServer[] = [];
let browser: Browser;
let projectId: number;

beforeAll(async () => {
  // this process serves pages only: the upload stays queued until a worker process starts
  servers.push(await startServer({ RUN_WORKERS: 'false' }));
  const orm = await MikroORM.init(ormConfig(servers[0].databaseUrl, { pool: { min: 0, max: 2 } }));
  try {
    const services = createServices(orm.em.fork());
    const admin = await services.users.createFirstAdmin({ email: 'up@example.org', name: 'Uma Uploader', password: 'correct horse battery' });
    const project = await services.projects.create(admin, { name: 'Street scenes', reviewStages: 1 });
    projectId = project.id;
    const access = await services.projects.access(admin, project.id, 'admin');
    await services.projects.updateSchemas(access, [{ name: 'image', type: 'image_url', required: true }], []);
  } finally {
    await orm.close();
  }
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  for (const s of servers) await s.stop();
});

it('uploads a CSV with two bad rows from the page, watches its progress reach completed with errors, and expands the errors', async () => {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  const url = servers[0].url;

  await page.goto(`${url}/login`);
  await page.getByLabel('Email').fill('up@example.org');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/projects$/);

  await page.goto(`${url}/projects/${projectId}`);
  await page.getByRole('link', { name: 'Upload', exact: true }).click();
  await page.waitForURL(new RegExp(`/projects/${projectId}/uploads$`));

  const csv = ['name,image,priority', 'street-1,https://img.example.org/1.jpg,1', 'street-2,https://img.example.org/2.jpg,abc',
    'street-3,https://img.example.org/3.jpg,2', 'street-4,not-a-url,3', 'street-5,https://img.example.org/5.jpg,'].join('\n');
  await page.getByLabel('Client batch ID').fill('week-47');
  await page.getByLabel('File').setInputFiles({ name: 'streets.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  await page.waitForURL(new RegExp(`/projects/${projectId}/uploads$`));
  await expect.poll(() => page.locator('.flash-success').innerText()).toMatch(/streets\.csv.*received/);

  const group = page.locator('#uploads tbody').first(); // one tbody per upload: its row and its errors
  const row = group.locator('tr').first();
  await expect.poll(() => row.locator('[data-status]').getAttribute('data-status')).toBe('queued');
  expect(await row.locator('progress').count()).toBe(1);
  expect(await group.getAttribute('hx-trigger')).toBe('every 1s');

  // a worker process starts: the row, polling on its own, follows the job to its end
  servers.push(await startServer({}, servers[0].databaseUrl));
  await expect.poll(() => row.locator('[data-status]').getAttribute('data-status'), { timeout: 30_000 }).toBe('completed_with_errors');
  expect(await row.locator('[data-col="processed"]').innerText()).toBe('5');
  expect(await row.locator('[data-col="succeeded"]').innerText()).toBe('3');
  expect(await row.locator('[data-col="failed"]').innerText()).toBe('2');
  // finished: no progress bar, no more polling
  expect(await row.locator('progress').count()).toBe(0);
  expect(await group.getAttribute('hx-trigger')).toBeNull();

  const details = group.locator('details.upload-errors');
  expect(await details.locator('table').isVisible()).toBe(false);
  await details.locator('summary').click();
  await expect.poll(() => details.locator('table').isVisible()).toBe(true);
  const errorRows = await details.locator('tbody tr').allInnerTexts();
  expect(errorRows).toHaveLength(2);
  expect(errorRows[0]).toMatch(/^2\s+priority\s+Priority must be a whole number/);
  expect(errorRows[1]).toMatch(/^4\s+image\s+Not a URL/);
  const download = details.getByRole('link', { name: 'Download failed rows' });
  expect(await download.getAttribute('href')).toMatch(/\/uploads\/\d+\/failed-rows$/);
  await page.screenshot({ path: 'test-results/uploads.png', fullPage: true });
  expect(errors).toEqual([]);
});
