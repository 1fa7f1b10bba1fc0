/**
 * A lean HTTP client for the benchmarks' load generators: one kept-alive connection per simulated
 * client, JSON in and out, on `node:http`. The load generator shares the two cores with the
 * servers it measures; `fetch` spent 2.3–2.8 times its CPU per request (0.26–0.46 ms against
 * 0.12–0.17 ms, a JSON POST to a trivial local server), CPU the servers then lacked.
 */
import { Agent, request } from 'node:http';

export interface JsonResponse<T> {
  status: number;
  ok: boolean;
  body: T;
}

export class JsonClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly base: string, private readonly headers: Record<string, string> = {}) {}

  post<T = unknown>(path: string, body: unknown): Promise<JsonResponse<T>> {
    return this.send<T>('POST', path, JSON.stringify(body));
  }

  get<T = unknown>(path: string): Promise<JsonResponse<T>> {
    return this.send<T>('GET', path);
  }

  close() {
    this.agent.destroy();
  }

  private send<T>(method: string, path: string, body?: string): Promise<JsonResponse<T>> {
    const headers: Record<string, string | number> = { ...this.headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    return new Promise((resolve, reject) => {
      const req = request(this.base + path, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            // not JSON (an error page): the text stays
          }
          resolve({ status, ok: status >= 200 && status < 300, body: parsed as T });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}
