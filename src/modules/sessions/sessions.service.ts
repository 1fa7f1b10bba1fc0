import { createHash, randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { IUser } from '../users/user.entity.ts';
import { SessionsRepository, type SessionRecord } from './sessions.repository.ts';

/** How long sessions live (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS). */
export interface SessionPolicy {
  idleMinutes: number;
  absoluteMinutes: number;
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Server-side sessions. The browser's encrypted cookie holds a random token; the database holds
 * its hash, so ending a session here ends it for good, whatever the cookie says.
 */
export class SessionsService {
  readonly repo: SessionsRepository;

  constructor(em: EntityManager) {
    this.repo = new SessionsRepository(em);
  }

  /** Starts a session for a user who just proved who they are; returns the token for the cookie. */
  async open(user: IUser, policy: SessionPolicy, client: { userAgent?: string; ip?: string }): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.repo.create(user.id, hash(token), user.sessionVersion, policy.absoluteMinutes, client.userAgent?.slice(0, 300) ?? null, client.ip ?? null);
    return token;
  }

  /** The user of a live session, or null (signed out, expired, idle too long, password changed, deactivated). */
  async resume(token: string, policy: SessionPolicy): Promise<{ user: IUser; sessionId: number } | null> {
    const found = await this.repo.userOf(hash(token), policy.idleMinutes);
    if (!found) return null;
    // activity is recorded at most once a minute: no write on every page
    if (!found.seenThisMinute) await this.repo.touch(found.sessionId);
    return { user: found.user, sessionId: found.sessionId };
  }

  async close(token: string): Promise<void> {
    await this.repo.endByHash(hash(token));
  }

  list(user: IUser, policy: SessionPolicy): Promise<SessionRecord[]> {
    return this.repo.live(user.id, policy.idleMinutes);
  }
}
