import pg from 'pg';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { collectErrors, launchBrowser, PASSWORD, type RunningServer, signIn, startServer, withServices } from './helpers.ts';

let server: RunningServer;
let browser: Browser;
let projectId: number;

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  projectId = await withServices(server.databaseUrl, async (services) => {
    const admin = await services.users.createFirstAdmin({ email: 'grace@example.org', name: 'Grace Admin', password: PASSWORD });
    return (await services.projects.create(admin, { name: 'Street scenes', reviewStages: 0 })).id;
  });
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  await client.query(
    `insert into tasks (project_id, name, stage_id, client_batch_id, created_at)
     select $1, format('img-%s', lpad(n::text, 2, '0')), (select id from stages where project_id = $1 and kind = 'label'),
            case when n <= 8 then 'night' else 'day' end, timestamptz '2026-11-01' + n * interval '1 hour'
     from generate_series(1, 20) n`,
    [projectId],
  );
  await client.end();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it('a manager exports a filtered view, archives two tasks and restores them', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const errors = collectErrors(page);
  page.on('dialog', (d) => d.accept());

  await signIn(page, server.url, 'grace@example.org');

  // filter the list, then export exactly that view
  const listUrl = `${server.url}/projects/${projectId}/tasks`;
  await page.goto(listUrl);
  await page.locator('#f-more > summary').click();
  await page.locator('#f-batch').fill('night');
  await page.locator('#f-batch').press('Tab');
  await page.waitForURL(`${listUrl}?batch=night`);
  await expect.poll(() => page.locator('#task-total-count').innerText()).toBe('8');
  await page.getByRole('button', { name: 'Export this view' }).click();
  await page.waitForURL(/\/exports$/);
  await expect.poll(() => page.locator('.flash-success').innerText()).toContain('started');
  // the list refreshes itself until the export completes
  await expect.poll(() => page.locator('#exports tbody tr').first().innerText(), { timeout: 20_000 }).toContain('Completed');
  await page.screenshot({ path: 'test-results/exports.png', fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).first().click()]);
  const path = await download.path();
  const { readFile } = await import('node:fs/promises');
  const csv = await readFile(path!, 'utf8');
  expect(csv.split('\n')[0]).toBe('id,name,state,stage,priority,priority_score,client_batch_id,created_at,last_submitted_at,data,metadata,answers,assignees');
  expect(csv.trimEnd().split('\n')).toHaveLength(9);
  expect(download.suggestedFilename()).toMatch(/^street-scenes-export-\d+\.csv$/);

  // archive two ticked tasks
  await page.goto(listUrl);
  await page.locator('input[name="ids"]').nth(0).check();
  await page.locator('input[name="ids"]').nth(1).check();
  await page.locator('#bulk-action').selectOption('archive');
  await page.getByLabel('Reason (archive, optional)').fill('Blurry');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect.poll(() => page.locator('.bulk-outcome').innerText()).toContain('Archive: 2 tasks changed, 0 skipped');
  await expect.poll(() => page.locator('#task-total-count').innerText()).toBe('18');

  // the archive history shows them; restore brings them back
  await page.getByRole('link', { name: 'Archive', exact: true }).click();
  await page.waitForURL(/\/archives$/);
  const row = page.locator('#archives tbody tr').first();
  await expect.poll(() => row.innerText()).toContain('Grace Admin');
  expect(await row.innerText()).toContain('Blurry');
  await page.screenshot({ path: 'test-results/archives.png', fullPage: true });
  await row.getByRole('button', { name: 'Restore' }).click();
  await page.waitForURL(/\/archives$/);
  await expect.poll(() => page.locator('.flash-success').innerText()).toContain('2 tasks restored');
  await expect.poll(() => row.innerText()).toContain('Restored');
  await page.goto(listUrl);
  await expect.poll(() => page.locator('#task-total-count').innerText()).toBe('20');
  expect(errors).toEqual([]);
});
