import { existsSync } from 'node:fs';
import { MikroORM } from '@mikro-orm/postgresql';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ormConfig } from '../src/db/orm-config.ts';
import { createServices, type Services } from '../src/plugins/app/services.ts';
import { cloneTemplateDatabase } from '../test/helpers/database.ts';
import { spawnServer, type ServerProcess } from '../test/helpers/server-process.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface RunningServer extends ServerProcess {
  databaseUrl: string;
}

/** Starts `src/server.ts` as its own process on a fresh database cloned from the migrated template. */
export async function startServer(env: Record<string, string> = {}, existingDatabaseUrl?: string): Promise<RunningServer> {
  const databaseUrl = existingDatabaseUrl ?? (await cloneTemplateDatabase('e2e'));
  return { ...(await spawnServer(databaseUrl, { env, echo: process.env.E2E_ECHO === '1' })), databaseUrl };
}

export function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export const PASSWORD = 'a long enough password';

/** Arranges data with the app's own services on the server's database, then lets go of it. */
export async function withServices<T>(databaseUrl: string, arrange: (services: Services) => Promise<T>): Promise<T> {
  const orm = await MikroORM.init(ormConfig(databaseUrl));
  try {
    return await arrange(createServices(orm.em.fork()));
  } finally {
    await orm.close();
  }
}

/** Signs in through the login page and waits for the projects list. */
export async function signIn(page: Page, baseUrl: string, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/projects$/);
}

/** Collects the page's script errors and console errors: a browser test ends expecting none. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  return errors;
}
