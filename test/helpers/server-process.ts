import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export interface ServerProcess {
  url: string;
  /** the server's own process (e.g. for its RSS) */
  pid: number;
  stop(): Promise<void>;
  /** Ends the process with a signal (e.g. SIGKILL) and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** flags for node itself, e.g. --cpu-prof */
  nodeArgs?: string[];
  /** how long the start may take (a first start on a big database builds new indexes) */
  timeoutMs?: number;
  /** copy the server's output to this process's stderr once it runs */
  echo?: boolean;
}

/**
 * Starts `src/server.ts` as its own process, exactly as `npm start` runs it, on `databaseUrl`, and
 * resolves with its address once it says it is ready. Shared by the browser tests and benchmarks.
 */
export async function spawnServer(databaseUrl: string, options: SpawnOptions = {}): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--max-semi-space-size=16', ...(options.nodeArgs ?? []), '--import', 'tsx', 'src/server.ts'], {
    cwd: resolve(import.meta.dirname, '../..'),
    env: {
      ...process.env,
      // the memory settings of `npm start` and the Dockerfile
      MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072',
      DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', PUBLIC_URL: '', ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /ready: (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  if (options.echo) {
    child.stdout!.on('data', (d: Buffer) => process.stderr.write(d));
    child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  }
  const kill = (signal: NodeJS.Signals) =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill(signal);
    });
  return { url, pid: child.pid!, stop: () => kill('SIGTERM'), kill };
}
