import pg from 'pg';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { collectErrors, launchBrowser, PASSWORD, type RunningServer, signIn, startServer, withServices } from './helpers.ts';

let server: RunningServer;
let browser: Browser;
let projectId: number;
let taskId: number;
const setIds: Record<string, number> = {};

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const { adminId, leeId } = await withServices(server.databaseUrl, async (services) => {
    const admin = await services.users.createFirstAdmin({ email: 'grace@example.org', name: 'Grace Admin', password: PASSWORD });
    const lee = (await services.users.create({ email: 'lee@example.org', name: 'Lee Labeler', password: PASSWORD, isAdmin: false })).user;
    projectId = (await services.projects.create(admin, { name: 'Street scenes', reviewStages: 1 })).id;
    const access = await services.projects.access(admin, projectId, 'admin');
    await services.members.add(access, 'lee@example.org', { role: 'member', stageIds: [] });
    await services.projects.updateSchemas(access, [{ name: 'image', type: 'image_url', required: false }], [
      { name: 'pedestrian', type: 'boolean' },
      { name: 'vehicle', type: 'choice', options: ['car', 'bus', 'bike'] },
      { name: 'speed_kmh', type: 'number' },
      { name: 'hazards', type: 'multi_choice', options: ['glare', 'debris', 'animal', 'roadworks'] },
      { name: 'notes', type: 'text' },
      { name: 'box', type: 'json' },
    ]);
    return { adminId: admin.id, leeId: lee.id };
  });

  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  const stage = async (name: string) => Number((await client.query(`select id from stages where project_id = $1 and name = $2`, [projectId, name])).rows[0].id);
  const [label, review] = [await stage('Label'), await stage('Review_1')];
  taskId = Number((await client.query(`insert into tasks (project_id, name, stage_id, data) values ($1, 'frame-0042', $2, '{}') returning id`, [projectId, review])).rows[0].id);
  const insert = async (key: string, kind: string, stageId: number | null, userId: number | null, answers: object) => {
    setIds[key] = Number(
      (await client.query(`insert into answer_sets (task_id, stage_id, user_id, kind, answers, version, submitted) values ($1, $2, $3, $4, $5, 1, $6) returning id`, [
        taskId, stageId, userId, kind, JSON.stringify(answers), kind !== 'default',
      ])).rows[0].id,
    );
  };
  await insert('model', 'default', null, null, {
    pedestrian: true, vehicle: 'car', speed_kmh: 48, hazards: ['glare'], notes: 'Wet road, low sun', box: { x: 120, y: 64, w: 40, h: 88 },
  });
  await insert('lee', 'submission', label, leeId, {
    pedestrian: true, vehicle: 'bus', speed_kmh: 48.0000001, hazards: ['glare', 'debris'], notes: 'wet road with low sun <script>alert(1)</script>', box: { x: 120, y: 64, w: 42, h: 88 },
  });
  await insert('grace', 'correction', review, adminId, {
    pedestrian: true, vehicle: 'car', speed_kmh: 50, hazards: ['glare', 'debris'], notes: 'Wet road, low sun.', box: { x: 120, y: 64, w: 40, h: 88 },
  });
  await client.end();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it('an admin ticks answer sets on the task view, compares them, and changes the selection', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = collectErrors(page);
  page.on('dialog', (d) => errors.push(`dialog: ${d.message()}`));

  await signIn(page, server.url, 'grace@example.org');

  await page.goto(`${server.url}/projects/${projectId}/tasks/${taskId}`);
  await page.getByLabel(`Compare answer set #${setIds.model}`).check();
  await page.getByLabel(`Compare answer set #${setIds.lee}`).check();
  // ticking a box in the summary does not open the answer set
  expect(await page.locator(`#answer-set-${setIds.model}`).getAttribute('open')).toBeNull();
  if (process.env.SCREENSHOT_DIR) await page.locator('#answer-sets').screenshot({ path: `${process.env.SCREENSHOT_DIR}/task-answer-sets.png` });
  await page.getByRole('button', { name: 'Compare selected' }).click();

  const canonical = `${server.url}/projects/${projectId}/tasks/${taskId}/compare?sets=${[setIds.model, setIds.lee].sort((a, b) => a - b).join(',')}`;
  await page.waitForURL(canonical);
  await expect.poll(() => page.locator('.compare-set').count()).toBe(2);
  expect(await page.locator('tr[data-field="vehicle"] .compare-agreement').innerText()).toBe('0 %');
  expect(await page.locator('tr[data-field="speed_kmh"] .compare-agreement').innerText()).toBe('100 %');
  expect(await page.locator('tr[data-field="vehicle"] .cell-differs').innerText()).toContain('bus');

  // add the correction from the picker on the compare page
  await page.locator(`#choose-sets input[value="${setIds.grace}"]`).check();
  await page.getByRole('button', { name: 'Compare', exact: true }).click();
  await page.waitForURL(/compare\?sets=\d+,\d+,\d+$/);
  await expect.poll(() => page.locator('.compare-set').count()).toBe(3);
  // car, bus, car: the majority is the reference, bus is the odd one out
  expect(await page.locator('tr[data-field="vehicle"] .cell-differs').count()).toBe(1);
  expect(await page.locator('tr[data-field="vehicle"] .compare-agreement').innerText()).toBe('33.3 %');
  if (process.env.SCREENSHOT_DIR) await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/compare.png`, fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
});
