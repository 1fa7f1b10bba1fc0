import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices } from '../src/plugins/app/services.ts';
import { launchBrowser, startServer, type RunningServer } from './helpers.ts';

let server: RunningServer;
let browser: Browser;
let projectId: number;
const PASSWORD = 'a long enough password';
const ids: Record<string, number> = {};

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const orm = await MikroORM.init(ormConfig(server.databaseUrl));
  const s = createServices(orm.em.fork());
  const admin = await s.users.createFirstAdmin({ email: 'grace@example.org', name: 'Grace Admin', password: PASSWORD });
  await s.users.create({ email: 'mina@example.org', name: 'Mina Member', password: PASSWORD });
  await s.users.create({ email: 'remy@example.org', name: 'Remy Reviewer', password: PASSWORD });
  projectId = (await s.projects.create(admin, { name: 'Birds', reviewStages: 1 })).id;
  const access = await s.projects.access(admin, projectId);
  await s.members.add(access, 'mina@example.org', { role: 'member', stageIds: [] });
  await s.members.add(access, 'remy@example.org', { role: 'member', stageIds: [] });
  await orm.close();
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  await client.query(`update projects set output_schema = '[{"name": "species", "type": "choice", "options": ["heron", "egret"]}, {"name": "note", "type": "text"}]',
                      input_schema = '[{"name": "photo", "type": "image_url", "required": true}]' where id = $1`, [projectId]);
  const { rows } = await client.query(
    `insert into tasks (project_id, name, stage_id, priority, data)
     select $1, v.name, (select id from stages where project_id = $1 and kind = 'label'), v.priority, jsonb_build_object('photo', 'https://example.org/' || v.name || '.jpg')
     from (values ('routine', 5), ('urgent', -3), ('later', 9)) v(name, priority) returning id, name`,
    [projectId],
  );
  for (const r of rows) ids[r.name] = Number(r.id);
  await client.end();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(email: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${server.url}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/projects$/);
  return { context, page, errors };
}

it('a member labels the highest-priority task (save, submit draft, finalize); a reviewer rejects it; it returns to the member', async () => {
  const base = `${server.url}/projects/${projectId}`;
  const mina = await signIn('mina@example.org');
  let page = mina.page;
  await page.goto(`${base}/queue`);
  await page.getByRole('button', { name: 'Label', exact: true }).click();
  await page.waitForURL(`${base}/work/${ids.urgent}`);
  await expect.poll(() => page.locator('h1').innerText()).toContain('urgent');
  expect(await page.locator('#shortcuts').innerText()).toContain('Finalize');

  await page.getByLabel('species').selectOption('heron');
  await page.getByLabel('note').fill('grey heron, left wing');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => page.locator('#flash').innerText()).toContain('Saved (version 1)');
  expect(await page.getByLabel('note').inputValue()).toBe('grey heron, left wing');

  await page.getByRole('button', { name: 'Submit draft' }).click();
  // the next task opens
  await page.waitForURL(`${base}/work/${ids.routine}`);
  await page.goto(`${base}/queue`);
  expect(await page.locator('#queue-pending').innerText()).toContain('urgent');
  await page.locator('#queue-pending').getByRole('link', { name: 'urgent' }).click();
  await page.waitForURL(`${base}/work/${ids.urgent}`);
  await page.getByRole('button', { name: 'Finalize', exact: true }).click();
  await page.waitForURL(`${base}/work/${ids.routine}`);

  const remy = await signIn('remy@example.org');
  page = remy.page;
  await page.goto(`${base}/queue`);
  await page.getByRole('button', { name: 'Review', exact: true }).click();
  await page.waitForURL(`${base}/work/${ids.urgent}`);
  expect(await page.locator('#under-review').innerText()).toContain('grey heron, left wing');
  await page.locator('#reject summary').click();
  await page.getByLabel('Reason (sent to the labeler)').fill('It is an egret');
  await page.getByRole('button', { name: 'Reject', exact: true }).click();
  await page.waitForURL(`${base}/queue`);
  await expect.poll(() => page.locator('#flash').innerText()).toContain('rejected and sent back');

  page = mina.page;
  await page.goto(`${base}/queue`);
  const open = page.locator('#queue-open');
  expect(await open.innerText()).toContain('urgent');
  await open.getByRole('link', { name: 'urgent' }).click();
  await page.waitForURL(`${base}/work/${ids.urgent}`);
  expect(await page.locator('#rejection').innerText()).toContain('It is an egret');
  expect(await page.getByLabel('note').inputValue()).toBe('grey heron, left wing');
  expect(await page.getByLabel('species').inputValue()).toBe('heron');
  expect(mina.errors).toEqual([]);
  expect(remy.errors).toEqual([]);
  await mina.context.close();
  await remy.context.close();
});
