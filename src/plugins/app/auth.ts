import fp from 'fastify-plugin';
import type { FastifyRequest } from 'fastify';
import { notFound, unauthorized } from '../../lib/errors.ts';
import type { IUser } from '../../modules/users/user.entity.ts';

interface SessionData {
  uid?: number;
  /** users.session_version at login: a password reset or deactivation ends older sessions */
  sv?: number;
  flash?: { kind: 'success' | 'error' | 'info'; message: string };
  _csrf?: string;
}

declare module '@fastify/secure-session' {
  interface SessionData {
    uid?: number;
    sv?: number;
    flash?: { kind: 'success' | 'error' | 'info'; message: string };
    _csrf?: string;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user, reloaded from the database on every request (roles are never cached). */
    user: IUser | null;
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
  async function auth(fastify) {
    let setupDone = false;

    fastify.decorateRequest('user', null);
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

      const session = request.session as unknown as { get<K extends keyof SessionData>(k: K): SessionData[K]; delete(): void };
      const uid = session.get('uid');
      if (uid) {
        const user = await request.services.users.users.findById(uid);
        if (user && user.active && user.sessionVersion === session.get('sv')) request.user = user;
        else session.delete();
      }
    });
  },
  { name: 'auth', dependencies: ['orm', 'services'] },
);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads the CSRF token from the first field of its multipart body itself. */
    csrfFromPart?: boolean;
  }
}
