import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import secureSession from '@fastify/secure-session';
import csrf from '@fastify/csrf-protection';

export interface SessionOptions {
  secret: string;
  secureCookies: boolean;
  /** the cookie outlives no session: the database ends sessions, this only tidies the browser */
  maxAgeSeconds: number;
}

/** The encrypted session cookie (the session token, the CSRF secret, a flash) and CSRF tokens. */
export default fp(
  async function session(fastify, opts: SessionOptions) {
    await fastify.register(secureSession, {
      key: createHash('sha256').update(`tasklane-session:${opts.secret}`).digest(),
      cookieName: 'tasklane_session',
      expiry: opts.maxAgeSeconds,
      cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: opts.secureCookies },
    });
    await fastify.register(csrf, { sessionPlugin: '@fastify/secure-session' });
  },
  { name: 'session' },
);
