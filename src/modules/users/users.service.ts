import { ApiTokensRepository } from '../api-tokens/api-tokens.repository.ts';
import { UniqueConstraintViolationException, type EntityManager } from '@mikro-orm/postgresql';
import { conflict, notFound, unprocessable } from '../../lib/errors.ts';
import { hashPassword, newToken, sha256, verifyPassword } from '../../lib/secrets.ts';
import { User, type IUser } from './user.entity.ts';
import { normalizeEmail, UserRepository } from './user.repository.ts';

const INVITE_DAYS = 7;

export class UsersService {
  readonly users: UserRepository;

  constructor(private readonly em: EntityManager) {
    this.users = new UserRepository(em);
  }

  /** The one-time setup: creates the first instance admin, refused once any user exists. */
  async createFirstAdmin(input: { email: string; name: string; password: string }): Promise<IUser> {
    return this.em.transactional(async (em) => {
      // serialise concurrent setup submissions
      await em.execute('lock table users in exclusive mode');
      if (await new UserRepository(em).any()) throw conflict('Tasklane is already set up');
      const user = em.create(User, {
        email: normalizeEmail(input.email),
        name: input.name,
        passwordHash: await hashPassword(input.password),
        isAdmin: true,
      });
      await em.flush();
      return user;
    });
  }

  /** Returns the user for valid credentials, else null; the two failure cases look the same. */
  async authenticate(email: string, password: string): Promise<IUser | null> {
    const user = await this.users.findByEmail(email);
    const valid = await verifyPassword(user?.active ? user.passwordHash : null, password);
    return valid && user ? user : null;
  }

  /** Creates an account with a password, or with an invite link when no password is given. */
  async create(input: { email: string; name: string; password?: string; isAdmin?: boolean }): Promise<{ user: IUser; inviteToken?: string }> {
    const taken = () => conflict('A user with this email already exists', { email: 'A user with this email already exists' });
    if (await this.users.findByEmail(input.email)) throw taken();
    const user = this.em.create(User, {
      email: normalizeEmail(input.email),
      name: input.name,
      isAdmin: input.isAdmin ?? false,
      passwordHash: input.password ? await hashPassword(input.password) : null,
    });
    const inviteToken = input.password ? undefined : this.issueInvite(user);
    try {
      await this.em.flush();
    } catch (err) {
      // created at the same moment by another call
      if (err instanceof UniqueConstraintViolationException) throw taken();
      throw err;
    }
    return { user, inviteToken };
  }

  async update(id: number, input: { name: string; isAdmin: boolean }, actor: IUser): Promise<IUser> {
    const user = await this.get(id);
    if (user.id === actor.id && !input.isAdmin) throw conflict('You cannot remove your own admin rights', { isAdmin: 'You cannot remove your own admin rights' });
    user.name = input.name;
    user.isAdmin = input.isAdmin;
    await this.em.flush();
    return user;
  }

  /** Sets a new password, or (without one) issues a fresh invite link; every old session ends. */
  async resetPassword(id: number, password?: string): Promise<{ user: IUser; inviteToken?: string }> {
    const user = await this.get(id);
    let inviteToken: string | undefined;
    if (password) {
      user.passwordHash = await hashPassword(password);
      user.inviteTokenHash = null;
      user.inviteExpiresAt = null;
    } else {
      user.passwordHash = null;
      inviteToken = this.issueInvite(user);
    }
    user.sessionVersion += 1;
    await this.em.flush();
    return { user, inviteToken };
  }

  async changeOwnPassword(user: IUser, current: string, next: string): Promise<void> {
    if (!(await verifyPassword(user.passwordHash, current))) {
      throw unprocessable('The current password is not right', { currentPassword: 'The current password is not right' });
    }
    user.passwordHash = await hashPassword(next);
    user.sessionVersion += 1;
    await this.em.flush();
  }

  async setActive(id: number, active: boolean, actor: IUser): Promise<IUser> {
    const user = await this.get(id);
    if (user.id === actor.id && !active) throw conflict('You cannot deactivate yourself');
    user.active = active;
    user.sessionVersion += 1;
    await this.em.flush();
    if (!active) await new ApiTokensRepository(this.em).revokeAllOf(user.id);
    return user;
  }

  /** The user an invite token belongs to, if the token is valid and not expired. */
  async findByInvite(token: string): Promise<IUser | null> {
    const user = await this.em.findOne(User, { inviteTokenHash: sha256(token), active: true });
    if (!user || !user.inviteExpiresAt || user.inviteExpiresAt < new Date()) return null;
    return user;
  }

  async acceptInvite(token: string, password: string): Promise<IUser> {
    const user = await this.findByInvite(token);
    if (!user) throw notFound('This invite link is invalid or has expired');
    user.passwordHash = await hashPassword(password);
    user.inviteTokenHash = null;
    user.inviteExpiresAt = null;
    user.sessionVersion += 1;
    await this.em.flush();
    return user;
  }

  async get(id: number): Promise<IUser> {
    const user = await this.users.findById(id);
    if (!user) throw notFound('No such user');
    return user;
  }

  private issueInvite(user: IUser): string {
    const { token, hash } = newToken('inv');
    user.inviteTokenHash = hash;
    user.inviteExpiresAt = new Date(Date.now() + INVITE_DAYS * 24 * 3600 * 1000);
    return token;
  }
}
