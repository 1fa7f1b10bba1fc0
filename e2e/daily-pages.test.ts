import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { collectErrors, launchBrowser, PASSWORD, type RunningServer, signIn, startServer, withServices } from './helpers.ts';

/** The daily pages at 1440×900 (issue 13): the dashboard's counts, the work page's size, a role refusal, the API docs. */
let server: RunningServer;
let browser: Browser;
let projectId: number;

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  projectId = await withServices(server.databaseUrl, async (services) => {
    const admin = await services.users.createFirstAdmin({ email: 'grace@example.org', name: 'Grace Admin', password: PASSWORD });
    const project = await services.projects.create(admin, { name: 'Street scenes', reviewStages: 1 });
    const access = await services.projects.access(admin, project.id);
    for (const [email, name, role] of [['maya@example.org', 'Maya Manager', 'manager'], ['lee@example.org', 'Lee Labeler', 'member']] as const) {
      await services.users.create({ email, name, password: PASSWORD });
      await services.members.add(access, email, { role, stageIds: [] });
    }
    return project.id;
  });
  const db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  // 340 tasks in Label: 300 reserved to Lee; of the other 40, 7 held and 33 in the pool
  await db.query(
    `insert into tasks (project_id, name, stage_id, held)
     select $1, format('a-rather-long-frame-name-%s', lpad(n::text, 4, '0')), (select id from stages where project_id = $1 and kind = 'label'), n > 333
     from generate_series(1, 340) n`, [projectId]);
  await db.query(
    `with lee as (select id from users where email = 'lee@example.org'),
     a as (insert into assignments (task_id, stage_id, user_id, status, kind)
           select t.id, t.stage_id, (select id from lee), 'assigned', 'reserved' from tasks t where t.project_id = $1 and t.id <= (select min(id) + 299 from tasks where project_id = $1)
           returning id, task_id, user_id)
     update tasks t set assignment_id = a.id, assignee_id = a.user_id, assignment_status = 'assigned', assignment_kind = 'reserved' from a where t.id = a.task_id`, [projectId]);
  await db.end();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function as(email: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = collectErrors(page);
  await signIn(page, server.url, email);
  return { page, errors };
}

it('the dashboard shows the counts the data implies', async () => {
  const { page, errors } = await as('maya@example.org');
  await page.goto(`${server.url}/projects/${projectId}`);
  const label = page.locator('.dash-stage').filter({ has: page.getByRole('link', { name: 'Label', exact: true }) });
  await expect.poll(() => label.locator('.dash-stage-total').innerText()).toBe('340');
  const counts = Object.fromEntries((await label.locator('.dash-counts > div').allInnerTexts()).map((t) => t.split('\n').map((x) => x.trim())));
  expect(counts).toMatchObject({ 'In pool': '33', Assigned: '300', Held: '7' }); // held tasks are out of the pool
  await page.screenshot({ path: 'test-results/dashboard.png', fullPage: true });
  expect(errors).toEqual([]);
});

it('the work page with a 300-task queue stays under 60 KB', async () => {
  const { page, errors } = await as('lee@example.org');
  await page.goto(`${server.url}/projects/${projectId}/queue`);
  await page.getByRole('button', { name: 'Label' }).click();
  await page.waitForURL(/\/work\/\d+$/);
  const html = await page.content();
  expect(Buffer.byteLength(html)).toBeLessThan(60_000);
  await expect.poll(() => page.locator('#queue-panel').innerText()).toContain('300 assigned or saved');
  expect(await page.locator('#queue-panel .queue-next li').count()).toBe(5);
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBe(0);
  await page.screenshot({ path: 'test-results/work-page.png', fullPage: true });
  expect(errors).toEqual([]);
});

it('a manager sees the 403 page on Settings, inside the project, with a way back', async () => {
  const { page } = await as('maya@example.org');
  const res = await page.goto(`${server.url}/projects/${projectId}/settings`);
  expect(res?.status()).toBe(403);
  await expect.poll(() => page.locator('h1').innerText()).toBe('Not allowed');
  expect(await page.locator('.error-page').innerText()).toContain('the admin role');
  expect(await page.locator('aside[aria-label="Project"]').isVisible()).toBe(true);
  expect(await page.locator('aside[aria-label="Project"]').getByRole('link', { name: 'Settings' }).count()).toBe(0);
  await page.getByRole('link', { name: 'Back to the project' }).click();
  await page.waitForURL(`${server.url}/projects/${projectId}`);
  await page.screenshot({ path: 'test-results/refusal.png' });
});

it('the API docs load without a CSP violation and link back to Tasklane', async () => {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = collectErrors(page);
  await page.goto(`${server.url}/api/docs`);
  // Swagger UI reads an OpenAPI 3.1 document with its ApiDOM parser: seconds, not milliseconds, on a busy machine
  await expect.poll(() => page.locator('.swagger-ui .info .title').innerText(), { timeout: 20_000 }).toContain('Tasklane API');
  await page.waitForTimeout(500);
  expect(errors).toEqual([]);
  await expect.poll(() => page.getByRole('link', { name: 'Back to Tasklane' }).getAttribute('href'), { timeout: 20_000 }).toBe('/projects');
});
