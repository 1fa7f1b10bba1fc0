import type { EntityManager } from '@mikro-orm/postgresql';
import { PREPARED } from '../../db/prepared-statements.ts';
import { User, type IUser } from '../users/user.entity.ts';

/** The queries of bearer-token authentication: they run on every API call, so they are prepared. */
export class ApiTokensRepository {
  constructor(private readonly em: EntityManager) {}

  /** The active user of an unrevoked token with this hash, and whether the token was used within the last minute. */
  async userOf(tokenHash: string): Promise<{ user: IUser; tokenId: number; usedThisMinute: boolean } | null> {
    const [row] = await this.em.getConnection().execute<Array<Record<string, unknown>>>(
      `${PREPARED} select u.*, k.id as token_id, coalesce(k.last_used_at > now() - interval '1 minute', false) as token_used_this_minute
         from api_tokens k join users u on u.id = k.user_id
        where k.token_hash = ? and k.revoked_at is null and u.active`,
      [tokenHash],
    );
    if (!row) return null;
    const { token_id: tokenId, token_used_this_minute: usedThisMinute, ...columns } = row;
    return { user: this.em.map(User, columns) as IUser, tokenId: Number(tokenId), usedThisMinute: Boolean(usedThisMinute) };
  }

  async touch(tokenId: number): Promise<void> {
    await this.em.getConnection().execute('update api_tokens set last_used_at = now() where id = ?', [tokenId]);
  }

  /** A deactivated user's tokens are revoked for good: reactivating the user brings none back. */
  async revokeAllOf(userId: number): Promise<void> {
    await this.em.getConnection().execute('update api_tokens set revoked_at = now() where user_id = ? and revoked_at is null', [userId]);
  }
}
