import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppSecret } from './app-secret.entity.ts';

/** Generated-once instance secrets, shared by every app process through the database. */
export class SecretsService {
  constructor(private readonly em: EntityManager) {}

  async getOrCreate(name: string): Promise<string> {
    await this.em.getConnection().execute(
      'insert into app_secrets (name, value) values (?, ?) on conflict (name) do nothing',
      [name, randomBytes(32).toString('base64url')],
    );
    const row = await this.em.findOneOrFail(AppSecret, { name });
    return row.value;
  }
}
