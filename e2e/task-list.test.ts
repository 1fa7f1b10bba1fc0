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
    return (await services.projects.create(admin, { name: 'Street scenes', reviewStages: 1 })).id;
  });
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  // 30 tasks, every third rejected; img-30 is the newest
  await client.query(
    `insert into tasks (project_id, name, stage_id, state, created_at)
     select $1, format('img-%s', lpad(n::text, 2, '0')), (select id from stages where project_id = $1 and kind = 'label'),
            case when n % 3 = 0 then 'rejected' else 'new' end, timestamptz '2026-11-01' + n * interval '1 hour'
     from generate_series(1, 30) n`,
    [projectId],
  );
  await client.end();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it('a manager filters, reloads, goes back, sets the priority of two rows and opens a task', async () => {
  const page = await browser.newPage();
  const errors = collectErrors(page);
  const rows = page.locator('#tasks tbody tr');
  const names = () => page.locator('#tasks tbody tr td:nth-child(3) a').allInnerTexts();

  await signIn(page, server.url, 'grace@example.org');

  const listUrl = `${server.url}/projects/${projectId}/tasks`;
  await page.evaluate(() => {
    (window as unknown as { cls: number }).cls = 0;
  });
  await page.goto(listUrl);
  await expect.poll(() => page.locator('#task-total-count').innerText()).toBe('30');

  // the table fits 1440 px: no horizontal overflow, every row one line (the same height), and the
  // page does not jump while it loads
  const layout = await page.evaluate(() => {
    const wrap = document.querySelector('#tasks')!.parentElement!;
    const heights = [...document.querySelectorAll('#tasks tbody tr')].map((r) => r.getBoundingClientRect().height);
    return { overflow: wrap.scrollWidth - wrap.clientWidth, page: document.documentElement.scrollWidth - window.innerWidth, spread: Math.max(...heights) - Math.min(...heights) };
  });
  expect(layout.overflow).toBe(0);
  expect(layout.page).toBe(0);
  expect(layout.spread).toBeLessThan(1); // one line each: the same height, sub-pixel rounding aside
  const shift = await page.evaluate(() => new Promise<number>((resolve) => {
    let total = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries() as (PerformanceEntry & { value: number; hadRecentInput: boolean })[]) if (!e.hadRecentInput) total += e.value;
    }).observe({ type: 'layout-shift', buffered: true });
    setTimeout(() => resolve(total), 500);
  }));
  expect(shift).toBeLessThan(0.01);

  // filter by state with the dropdown's checkboxes: htmx swaps the table and the address bar follows
  await page.locator('#f-state > summary').click();
  await page.locator('#f-state').getByLabel('Rejected').check();
  await page.waitForURL(`${listUrl}?state=rejected`);
  await expect.poll(() => rows.count()).toBe(10);
  const filtered = await names();
  expect(filtered[0]).toBe('img-30');
  expect(filtered.every((n) => Number(n.slice(4)) % 3 === 0)).toBe(true);

  // reload: the same view from the URL alone
  await page.reload();
  await expect.poll(() => names()).toEqual(filtered);
  expect(await page.locator('#f-state input:checked').evaluateAll((els) => els.map((el) => (el as HTMLInputElement).value))).toEqual(['rejected']);

  // a second filter (no task has a priority of 1 or more), then remove the first with its chip
  await page.locator('#f-more > summary').click();
  await page.locator('#f-pmin').fill('1');
  await page.locator('#f-pmin').press('Tab');
  await page.waitForURL(`${listUrl}?pmin=1&state=rejected`);
  await page.getByRole('link', { name: /State: Rejected/ }).click();
  await page.waitForURL(`${listUrl}?pmin=1`);
  await expect.poll(() => page.locator('.filter-chips').innerText()).toContain('Priority ≥ 1');

  // Back restores each view in turn
  await page.goBack();
  await page.waitForURL(`${listUrl}?pmin=1&state=rejected`);
  await expect.poll(() => rows.count()).toBe(0); // every test task has priority 0
  await page.goBack();
  await page.waitForURL(`${listUrl}?state=rejected`);
  await expect.poll(() => rows.count()).toBe(10);
  await page.goBack();
  await page.waitForURL(listUrl);
  await expect.poll(() => page.locator('#task-total-count').innerText()).toBe('30');
  await expect.poll(() => rows.count()).toBe(30);

  // tick two rows and set their priority
  await page.locator('input[name="ids"]').nth(0).check();
  await page.locator('input[name="ids"]').nth(1).check();
  await expect.poll(() => page.locator('#bulk-count').innerText()).toContain('2 ticked rows selected');
  await page.locator('#bulk-action').selectOption('priority');
  await page.getByLabel('Priority', { exact: true }).fill('42');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect.poll(() => page.locator('.bulk-outcome').innerText()).toContain('Set priority: 2 tasks changed, 0 skipped');
  // the table refreshes itself with the new priorities
  await expect.poll(() => page.locator('#tasks tbody tr td:nth-child(8)').allInnerTexts().then((p) => p.slice(0, 3))).toEqual(['42', '42', '0']);
  await page.screenshot({ path: 'test-results/task-list-bulk.png', fullPage: true });

  // open a task: its history shows the change
  await page.getByRole('link', { name: 'img-30', exact: true }).click();
  await page.waitForURL(/\/tasks\/\d+$/);
  await expect.poll(() => page.locator('h1').innerText()).toContain('img-30');
  const history = await page.locator('body').innerText();
  expect(history).toContain('Priority changed');
  expect(history).toContain('Grace Admin');
  expect(errors).toEqual([]);
});
