import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

/** Every setting Tasklane reads from the environment. Parsed once at start-up. */
const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ default: '0.0.0.0' }),
  /** When set, no embedded PostgreSQL is started. */
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  /** Where the embedded PostgreSQL keeps its cluster (and nothing else). */
  DATA_DIR: Type.String({ default: '.data' }),
  /** Secret for session cookies; generated and stored in the database on first run when absent. */
  SESSION_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  /** The address users open; an https:// URL makes session cookies Secure. */
  PUBLIC_URL: Type.Optional(Type.String()),
  TRUST_PROXY: Type.Boolean({ default: false }),
  LOG_LEVEL: Type.Union(
    [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
    { default: 'info' },
  ),
  /** A session ends after this many minutes without a request (OWASP ASVS level 2: 30). */
  SESSION_IDLE_MINUTES: Type.Integer({ minimum: 1, maximum: 7 * 24 * 60, default: 30 }),
  /** A session ends this many hours after sign-in, however active (ASVS level 2: 12). */
  SESSION_MAX_HOURS: Type.Integer({ minimum: 1, maximum: 24 * 90, default: 12 }),
  /** Failed login attempts allowed per client address and minute. */
  LOGIN_RATE_LIMIT: Type.Integer({ minimum: 1, default: 10 }),
  /** Run background job workers (uploads, exports, bulk actions, archiving) in this process. */
  RUN_WORKERS: Type.Boolean({ default: true }),
  /** When the archiving of inactive tasks runs (cron, UTC), for projects with auto-archive days set. */
  AUTO_ARCHIVE_CRON: Type.String({ minLength: 9, default: '30 2 * * *' }),
  /** Export files are deleted this many days after they are made. */
  EXPORT_RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 3650, default: 7 }),
  /** Largest upload file accepted, in bytes (default 1 GiB); larger ones answer 413. */
  UPLOAD_MAX_BYTES: Type.Integer({ minimum: 1, default: 1024 * 1024 * 1024 }),
  /** API requests this process runs at once (the others wait their turn); default: its CPU cores, at most 6. */
  API_CONCURRENCY: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});

export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Builds the config from an environment-like object: converts strings, applies defaults, validates. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(ConfigSchema.properties);
  const raw: Record<string, unknown> = {};
  for (const key of known) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const converted = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  if (!Value.Check(ConfigSchema, converted)) {
    const problems = [...Value.Errors(ConfigSchema, converted)].map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return converted as Config;
}
