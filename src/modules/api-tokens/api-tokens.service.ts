import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound } from '../../lib/errors.ts';
import { newToken, sha256 } from '../../lib/secrets.ts';
import type { IUser } from '../users/user.entity.ts';
import { ApiToken, type IApiToken } from './api-token.entity.ts';
import { ApiTokensRepository } from './api-tokens.repository.ts';

/** Personal API tokens: shown once at creation, stored only as a SHA-256 hash. */
export class ApiTokensService {
  private readonly repo: ApiTokensRepository;

  constructor(private readonly em: EntityManager) {
    this.repo = new ApiTokensRepository(em);
  }

  list(user: IUser): Promise<IApiToken[]> {
    return this.em.find(ApiToken, { user }, { orderBy: { revokedAt: 'desc nulls first', id: 'desc' } });
  }

  async create(user: IUser, name: string): Promise<{ token: string; record: IApiToken }> {
    const { token, hash } = newToken('tl');
    const record = this.em.create(ApiToken, { user, name, tokenHash: hash, tokenPrefix: token.slice(0, 10) });
    await this.em.flush();
    return { token, record };
  }

  async revoke(user: IUser, id: number): Promise<IApiToken> {
    const record = await this.em.findOne(ApiToken, { id, user });
    if (!record) throw notFound('No such token');
    record.revokedAt ??= new Date();
    await this.em.flush();
    return record;
  }

  /** The active user a bearer token belongs to, or null. */
  async authenticate(token: string): Promise<IUser | null> {
    const found = await this.repo.userOf(sha256(token));
    if (!found) return null;
    // record use at most once a minute: no write on every API call
    if (!found.usedThisMinute) await this.repo.touch(found.tokenId);
    return found.user;
  }
}
