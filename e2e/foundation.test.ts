import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { collectErrors, launchBrowser, type RunningServer, startServer } from './helpers.ts';

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

it('a new admin sets up Tasklane, signs in and creates a project with a review stage', async () => {
  const page = await browser.newPage();
  const errors = collectErrors(page);

  await page.goto(server.url);
  await expect.poll(() => page.url()).toMatch(/\/setup$/);
  await page.getByLabel('Your name').fill('Grace Admin');
  await page.getByLabel('Email').fill('grace@example.org');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  await page.waitForURL(/\/projects$/);
  await expect.poll(() => page.getByText('Welcome to Tasklane').isVisible()).toBe(true);

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login$/);
  await page.getByLabel('Email').fill('grace@example.org');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/projects$/);

  await page.getByRole('link', { name: 'New project' }).first().click();
  await page.getByLabel('Name').fill('Chest X-rays');
  await page.getByLabel('Description').fill('Label findings on frontal chest radiographs');
  await page.getByLabel('Review stages').fill('1');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  // the Overview lists the workflow's stages, Label → Review_1 → Ground Truth (under its workflow details)
  await expect.poll(() => page.locator('.workflow-stage').allTextContents()).toEqual([
    expect.stringContaining('Label'),
    expect.stringContaining('Review_1'),
    expect.stringContaining('Ground Truth'),
  ]);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects', exact: true }).click();
  await page.waitForURL(/\/projects$/);
  const row = page.locator('#projects tbody tr', { hasText: 'Chest X-rays' });
  await expect.poll(() => row.count()).toBe(1);
  expect(await row.innerText()).toContain('Label → Review_1 → Ground Truth');
  await page.screenshot({ path: 'test-results/foundation-projects.png', fullPage: true });
  expect(errors).toEqual([]);
});
