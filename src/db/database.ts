import { join } from 'node:path';
import type { Config } from '../config.ts';
import { EmbeddedPostgres } from './embedded-postgres.ts';

export interface Database {
  url: string;
  /** Stops the embedded server, if this process started one. */
  stop(): Promise<void>;
}

/**
 * DATABASE_URL when set; otherwise an embedded PostgreSQL in DATA_DIR/pg. The app server owns the
 * embedded server (`owner`): it stops it even when it adopted it from a killed run; scripts stop
 * only a server they started themselves.
 */
export async function openDatabase(config: Config, log: (msg: string) => void, { owner = false } = {}): Promise<Database> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, stop: async () => {} };
  const server = new EmbeddedPostgres({ dir: config.DATA_DIR, database: 'tasklane', log });
  log(`starting embedded PostgreSQL in ${join(config.DATA_DIR, 'pg')}`);
  const url = await server.start();
  return { url, stop: () => server.stop({ includeAdopted: owner }) };
}
