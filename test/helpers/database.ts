import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { ensureDatabase } from '../../src/db/embedded-postgres.ts';
import { TEMPLATE_DB } from './global-setup.ts';

/** A fresh database of its own, cloned from the migrated template; returns its URL. */
export async function cloneTemplateDatabase(prefix: string): Promise<string> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(adminUrl, name, TEMPLATE_DB);
  return adminUrl.replace(/\/postgres$/, `/${name}`);
}
