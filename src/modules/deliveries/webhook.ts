import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

/** Headers of a webhook call: the timestamp (unix seconds) and `sha256=<hex HMAC of "<timestamp>.<body>">`. */
export const TIMESTAMP_HEADER = 'x-tasklane-timestamp';
export const SIGNATURE_HEADER = 'x-tasklane-signature';
const TIMEOUT_MS = 10_000;

export const newWebhookSecret = () => `whsec_${randomBytes(24).toString('base64url')}`;

/** HMAC-SHA256 over `<timestamp>.<body>` with the project's secret, as sent in the signature header. */
export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does: recompute and compare in constant time (and reject old timestamps). */
export function verify(secret: string, timestamp: string, body: string, signature: string, toleranceSeconds = 300): boolean {
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(secret, ts, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// loopback, private, link-local, CGNAT, unspecified, multicast and other special ranges
const PRIVATE = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) PRIVATE.addSubnet(net, prefix, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1], 'ipv4');
  const family = isIP(address);
  return family === 4 ? PRIVATE.check(address, 'ipv4') : family === 6 ? PRIVATE.check(address, 'ipv6') : true;
}

/** An allow-list entry that opens the internal network: a private or loopback address, or localhost. */
export function isInternalHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && isPrivateAddress(host);
}

/**
 * A failed connection as the attempt list shows it: the kind of failure only. The raw error
 * names internal addresses and ports, which would let a project admin map the network.
 */
export function connectionFailure(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code === 'TIMEOUT') return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable';
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code)) return 'TLS error';
  return 'connection failed';
}

/** Allow-list entries: host names or IP addresses, lower-case, without brackets. */
export function normalizeHosts(raw: string | string[]): string[] {
  const items = (Array.isArray(raw) ? raw : raw.split(/[\s,]+/)).map((h) => h.trim().toLowerCase().replace(/^\[|\]$/g, '')).filter(Boolean);
  return [...new Set(items)];
}

export class WebhookRefused extends Error {}

/**
 * Checks a webhook URL against the allow-list and resolves it: only http(s), only listed hosts,
 * and a private or loopback address only when that address itself is listed. Returns the
 * address to connect to (pinned, so a second DNS answer cannot redirect the call).
 */
export async function resolveTarget(rawUrl: string, allowedHosts: string[]): Promise<{ url: URL; address: string; family: number }> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new WebhookRefused('The webhook URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookRefused('The webhook URL must be http or https');
  if (url.username || url.password) throw new WebhookRefused('The webhook URL must not carry credentials');
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const allowed = normalizeHosts(allowedHosts);
  if (!allowed.includes(host)) throw new WebhookRefused(`${host} is not on the project's webhook allow-list`);
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await lookup(host, { all: true, verbatim: true }).catch(() => []);
  if (addresses.length === 0) throw new WebhookRefused('DNS lookup failed');
  for (const a of addresses) {
    // the address itself stays unsaid: answers about internal names would map the network
    if (isPrivateAddress(a.address) && !allowed.includes(a.address.toLowerCase())) {
      throw new WebhookRefused(`${host} resolves to a private or loopback address that is not on the allow-list`);
    }
  }
  return { url, address: addresses[0].address, family: addresses[0].family };
}

export interface PostResult {
  status: number | null;
  error: string | null;
  durationMs: number;
}

/** POSTs the body to the resolved address; never follows redirects (a 3xx is a failure). */
export function postSigned(target: { url: URL; address: string; family: number }, body: string, secret: string): Promise<PostResult> {
  const started = Date.now();
  const timestamp = Math.floor(started / 1000);
  const client = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const done = (status: number | null, error: string | null) => resolve({ status, error, durationMs: Date.now() - started });
    const req = client.request(target.url, {
      method: 'POST',
      timeout: TIMEOUT_MS,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'user-agent': 'Tasklane-Webhook/1',
        [TIMESTAMP_HEADER]: String(timestamp),
        [SIGNATURE_HEADER]: sign(secret, timestamp, body),
      },
      lookup: (_host, options, callback) => {
        const cb = callback as (...args: unknown[]) => void;
        if ((options as { all?: boolean }).all) cb(null, [{ address: target.address, family: target.family }]);
        else cb(null, target.address, target.family);
      },
    }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      res.on('end', () => done(status, status >= 200 && status < 300 ? null : status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err) => done(null, connectionFailure(err)));
    req.end(body);
  });
}
