import { createHash } from 'node:crypto';
import fp from 'fastify-plugin';
import secureSession from '@fastify/secure-session';
import csrf from '@fastify/csrf-protection';

export interface SessionOptions {
  secret: string;
  secureCookies: boolean;
}

/** Encrypted cookie sessions (no server state) and CSRF tokens kept in them. */
export default fp(
  async function session(fastify, opts: SessionOptions) {
    await fastify.register(secureSession, {
      key: createHash('sha256').update(`tasklane-session:${opts.secret}`).digest(),
      cookieName: 'tasklane_session',
      expiry: 14 * 24 * 3600,
      cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: opts.secureCookies },
    });
    await fastify.register(csrf, { sessionPlugin: '@fastify/secure-session' });
  },
  { name: 'session' },
);
