import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { notFound, unauthorized } from '../../lib/errors.ts';
import type { IUser } from '../../modules/users/user.entity.ts';
import type { SessionPolicy } from '../../modules/sessions/sessions.service.ts';

interface SessionData {
  /** the token of a row in `sessions` (stored there hashed): the database decides if it still counts */
  sid?: string;
  flash?: { kind: 'success' | 'error' | 'info'; message: string };
  _csrf?: string;
}

declare module '@fastify/secure-session' {
  interface SessionData {
    sid?: string;
    flash?: { kind: 'success' | 'error' | 'info'; message: string };
    _csrf?: string;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** How long sessions live (from the configuration). */
    sessionPolicy: SessionPolicy;
  }
  interface FastifyRequest {
    /** The signed-in user, reloaded from the database on every request (roles are never cached). */
    user: IUser | null;
    /** The `sessions` row of a signed-in browser. */
    sessionId: number | null;
    /** Starts a server-side session for the user in this browser (a fresh cookie). */
    signIn(user: IUser): Promise<void>;
    /** Ends this browser's session in the database and clears the cookie. */
    signOut(): Promise<void>;
    /** The signed-in user, or a 401 (pages redirect to the login form). */
    requireUser(): IUser;
    /** An instance admin, or 404. */
    requireInstanceAdmin(): IUser;
    isApi: boolean;
  }
}

export function isApiPath(url: string): boolean {
  return url.startsWith('/api/v1/') || url === '/api/v1';
}

/** Sign-up is closed: until the first admin exists every page leads to /setup. */
const SETUP_FREE = /^\/(setup|healthz|readyz|static|vendor|favicon|api\/docs)/;

export default fp(
  async function auth(fastify, policy: SessionPolicy) {
    let setupDone = false;
    type Session = { get<K extends keyof SessionData>(k: K): SessionData[K]; set<K extends keyof SessionData>(k: K, v: SessionData[K]): void; delete(): void; regenerate(): void };
    const sessionOf = (request: FastifyRequest) => request.session as unknown as Session;

    fastify.decorate('sessionPolicy', policy);
    fastify.decorateRequest('user', null);
    fastify.decorateRequest('sessionId', null);
    fastify.decorateRequest('signIn', async function (this: FastifyRequest, user: IUser) {
      const token = await this.services.sessions.open(user, policy, { userAgent: this.headers['user-agent'], ip: this.ip });
      const session = sessionOf(this);
      session.regenerate();
      session.set('sid', token);
    });
    fastify.decorateRequest('signOut', async function (this: FastifyRequest) {
      const session = sessionOf(this);
      const token = session.get('sid');
      if (token) await this.services.sessions.close(token);
      session.delete();
    });
    fastify.decorateRequest('isApi', false);
    fastify.decorateRequest('requireUser', function (this: FastifyRequest) {
      if (!this.user) throw unauthorized();
      return this.user;
    });
    fastify.decorateRequest('requireInstanceAdmin', function (this: FastifyRequest) {
      const user = this.requireUser();
      if (!user.isAdmin) throw notFound();
      return user;
    });

    fastify.addHook('onRequest', async (request, reply) => {
      request.isApi = isApiPath(request.url);
      if (request.isApi) {
        // the hot work routes read the token together with the project access themselves
        if (request.routeOptions.config.tokenAccess) return;
        const header = request.headers.authorization;
        const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
        if (match) request.user = await request.services.apiTokens.authenticate(match[1]);
        return;
      }

      if (!setupDone) {
        setupDone = await request.services.users.users.any();
        if (!setupDone && !SETUP_FREE.test(request.url) && request.method === 'GET') {
          return reply.redirect('/setup');
        }
      }

      const session = sessionOf(request);
      const token = session.get('sid');
      if (token) {
        const found = await request.services.sessions.resume(token, policy);
        if (found) {
          request.user = found.user;
          request.sessionId = found.sessionId;
        } else {
          session.delete();
        }
      }
    });
  },
  { name: 'auth', dependencies: ['orm', 'services'] },
);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads the CSRF token from the first field of its multipart body itself. */
    csrfFromPart?: boolean;
    /** An API route that authenticates its bearer token itself, in one statement with the project access (queue/token-access.ts). */
    tokenAccess?: boolean;
  }
}
