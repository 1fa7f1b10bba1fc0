import type { EntityManager } from '@mikro-orm/postgresql';
import { PREPARED } from '../../db/prepared-statements.ts';
import { User, type IUser } from '../users/user.entity.ts';

export interface SessionRecord {
  id: number;
  createdAt: Date;
  lastSeenAt: Date;
  userAgent: string | null;
  ip: string | null;
}

/** The `sessions` table: one row per signed-in browser. */
export class SessionsRepository {
  constructor(private readonly em: EntityManager) {}

  async create(userId: number, tokenHash: string, sessionVersion: number, absoluteMinutes: number, userAgent: string | null, ip: string | null): Promise<number> {
    const [row] = await this.em.getConnection().execute<Array<{ id: string }>>(
      `insert into sessions (user_id, token_hash, session_version, expires_at, user_agent, ip)
       values (?, ?, ?, now() + make_interval(mins => ?), ?, ?) returning id`,
      [userId, tokenHash, sessionVersion, absoluteMinutes, userAgent, ip],
    );
    return Number(row.id);
  }

  /**
   * The active user of a live session with this hash: not expired, seen within the idle time, and
   * begun at the user's current session version. Runs on every page, so it is prepared.
   */
  async userOf(tokenHash: string, idleMinutes: number): Promise<{ user: IUser; sessionId: number; seenThisMinute: boolean } | null> {
    const [row] = await this.em.getConnection().execute<Array<Record<string, unknown>>>(
      `${PREPARED} select u.*, s.id as session_id, s.last_seen_at > now() - interval '1 minute' as session_seen_this_minute
         from sessions s join users u on u.id = s.user_id
        where s.token_hash = ? and u.active and s.session_version = u.session_version
          and s.expires_at > now() and s.last_seen_at > now() - make_interval(mins => ?)`,
      [tokenHash, idleMinutes],
    );
    if (!row) return null;
    const { session_id: sessionId, session_seen_this_minute: seen, ...columns } = row;
    return { user: this.em.map(User, columns) as IUser, sessionId: Number(sessionId), seenThisMinute: Boolean(seen) };
  }

  async touch(sessionId: number): Promise<void> {
    await this.em.getConnection().execute('update sessions set last_seen_at = now() where id = ?', [sessionId]);
  }

  /** After a password change in this session: it stays, the user's other sessions end. */
  async keepOnly(userId: number, sessionId: number, sessionVersion: number): Promise<void> {
    await this.em.getConnection().execute('update sessions set session_version = ? where id = ? and user_id = ?', [sessionVersion, sessionId, userId]);
    await this.endOthers(userId, sessionId);
  }

  async end(userId: number, sessionId: number): Promise<number> {
    return (await this.em.getConnection().execute<{ affectedRows: number }>('delete from sessions where id = ? and user_id = ?', [sessionId, userId], 'run')).affectedRows;
  }

  async endByHash(tokenHash: string): Promise<void> {
    await this.em.getConnection().execute('delete from sessions where token_hash = ?', [tokenHash]);
  }

  async endOthers(userId: number, keepSessionId: number): Promise<number> {
    return (await this.em.getConnection().execute<{ affectedRows: number }>('delete from sessions where user_id = ? and id <> ?', [userId, keepSessionId], 'run')).affectedRows;
  }

  /** The user's live sessions, newest activity first; ended and expired ones are removed on the way. */
  async live(userId: number, idleMinutes: number): Promise<SessionRecord[]> {
    await this.em.getConnection().execute(
      `delete from sessions s using users u
        where s.user_id = ? and u.id = s.user_id
          and (s.session_version <> u.session_version or s.expires_at <= now() or s.last_seen_at <= now() - make_interval(mins => ?))`,
      [userId, idleMinutes],
    );
    const rows = await this.em.getConnection().execute<Array<Record<string, unknown>>>(
      'select id, created_at, last_seen_at, user_agent, ip from sessions where user_id = ? order by last_seen_at desc, id desc',
      [userId],
    );
    return rows.map((r) => ({
      id: Number(r.id), createdAt: new Date(r.created_at as string), lastSeenAt: new Date(r.last_seen_at as string),
      userAgent: (r.user_agent as string | null) ?? null, ip: (r.ip as string | null) ?? null,
    }));
  }
}
