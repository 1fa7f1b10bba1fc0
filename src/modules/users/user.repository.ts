import type { EntityManager } from '@mikro-orm/postgresql';
import { User, type IUser } from './user.entity.ts';

/** Emails are stored lower-cased, so lookups are case-insensitive. */
export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export class UserRepository {
  constructor(private readonly em: EntityManager) {}

  async any(): Promise<boolean> {
    return (await this.em.count(User, {})) > 0;
  }

  findById(id: number): Promise<IUser | null> {
    return this.em.findOne(User, { id });
  }

  findByEmail(email: string): Promise<IUser | null> {
    return this.em.findOne(User, { email: normalizeEmail(email) });
  }

  findActiveByEmails(emails: string[]): Promise<IUser[]> {
    return this.em.find(User, { email: { $in: emails.map(normalizeEmail) }, active: true });
  }

  list(): Promise<IUser[]> {
    return this.em.find(User, {}, { orderBy: { active: 'desc', name: 'asc', id: 'asc' } });
  }
}
