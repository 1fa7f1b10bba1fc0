import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrate } from './db/migrate.ts';

/** Process entry: config → database → migrations → app (with jobs) → listen; closes in reverse on signals. */
async function main() {
  const config = loadConfig();
  const say = (msg: string) => console.log(`[tasklane] ${msg}`);
  const database = await openDatabase(config, say, { owner: true });
  await migrate(database.url);
  const app = await buildApp({ config, databaseUrl: database.url });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    say(`${signal} received, shutting down`);
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    try {
      await app.close(); // HTTP first, then jobs (pg-boss), then the ORM: onClose hooks run in reverse
      await database.stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ port: config.PORT, host: config.HOST });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  say(`ready: ${config.PUBLIC_URL ?? `http://localhost:${port}`}`);
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
