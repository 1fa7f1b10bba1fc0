import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { formValueOrThrow, parseForm } from '../../lib/form.ts';
import { ErrorResponse } from '../system/api.schemas.ts';
import { requireInstanceAdminApi } from './instance-admin.ts';
import type { IUser } from './user.entity.ts';
import { inviteNotice } from './users.routes.ts';
import { UserCreateForm, UserUpdateForm } from './users.schemas.ts';

const UserParams = Type.Object({ userId: Type.Integer({ minimum: 1 }) });
const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 422: ErrorResponse };
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const UserAccount = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  name: Type.String(),
  isAdmin: Type.Boolean({ description: 'Instance admin' }),
  active: Type.Boolean({ description: 'Deactivated users cannot sign in, and their API tokens are revoked' }),
  hasPassword: Type.Boolean({ description: 'False until an invited user sets a password' }),
  inviteExpiresAt: Nullable(Type.String({ format: 'date-time', description: 'When the open invite link expires' })),
  createdAt: Type.String({ format: 'date-time' }),
}, { title: 'UserAccount' });
const Invite = Type.Object({
  url: Nullable(Type.String({ description: 'The link to send (null when PUBLIC_URL is not set: use `path` on your address)' })),
  path: Type.String(),
  expiresAt: Nullable(Type.String({ format: 'date-time' })),
}, { description: 'The invite link, shown this once' });
const checkbox = (on: boolean | undefined) => (on ? 'on' : '');

const toUser = (u: IUser) => ({
  id: u.id, email: u.email, name: u.name, isAdmin: u.isAdmin, active: u.active, hasPassword: u.passwordHash != null,
  inviteExpiresAt: u.passwordHash == null ? u.inviteExpiresAt?.toISOString() ?? null : null, createdAt: u.createdAt.toISOString(),
});

/** User accounts in the JSON API (instance admins), with the admin pages' rules. API tokens stay made in the web UI. */
const usersApi: FastifyPluginAsyncTypebox<{ publicUrl?: string }> = async (fastify, opts) => {
  fastify.get('/users', {
    schema: { operationId: 'listUsers', tags: ['users'], summary: 'Every user account, active first (instance admins)', response: { 200: Type.Object({ items: Type.Array(UserAccount) }), 401: ErrorResponse, 403: ErrorResponse } },
  }, async (request) => {
    requireInstanceAdminApi(request);
    return { items: (await request.services.users.users.list()).map(toUser) };
  });

  fastify.get('/users/:userId', {
    schema: { operationId: 'getUser', tags: ['users'], summary: 'One user account (instance admins)', params: UserParams, response: { 200: UserAccount, ...errors } },
  }, async (request) => {
    requireInstanceAdminApi(request);
    return toUser(await request.services.users.get(request.params.userId));
  });

  fastify.post('/users', {
    schema: {
      operationId: 'createUser', tags: ['users'], summary: 'Create a user account, with a password or (without one) an invite link',
      body: Type.Object({
        name: Type.String({ description: '1–120 characters' }),
        email: Type.String({ description: 'Unique (case-insensitively)' }),
        password: Type.Optional(Type.String({ description: '10–200 characters; leave it out to get an invite link valid for 7 days' })),
        isAdmin: Type.Optional(Type.Boolean({ default: false, description: 'Instance admin' })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ user: UserAccount, invite: Nullable(Invite) }), 401: ErrorResponse, 403: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse },
    },
  }, async (request, reply) => {
    requireInstanceAdminApi(request);
    const { isAdmin, ...fields } = request.body;
    const input = formValueOrThrow(parseForm(UserCreateForm, { ...fields, isAdmin: checkbox(isAdmin) }));
    const { user, inviteToken } = await request.services.users.create({ ...input, isAdmin: Boolean(input.isAdmin) });
    const invite = inviteToken ? inviteNotice(opts.publicUrl, user, inviteToken) : null;
    return reply.code(201).send({ user: toUser(user), invite: invite && { ...invite, expiresAt: invite.expiresAt?.toISOString() ?? null } });
  });

  fastify.patch('/users/:userId', {
    schema: {
      operationId: 'updateUser', tags: ['users'],
      summary: 'Rename a user, make or unmake an instance admin, deactivate or reactivate; fields left out keep their value',
      description: 'Deactivating signs the user out everywhere and revokes their API tokens. You cannot deactivate yourself or remove your own admin rights (409).',
      params: UserParams,
      body: Type.Object({ name: Type.Optional(Type.String({ description: '1–120 characters' })), isAdmin: Type.Optional(Type.Boolean()), active: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      response: { 200: UserAccount, ...errors, 409: ErrorResponse },
    },
  }, async (request) => {
    const actor = requireInstanceAdminApi(request);
    const { users } = request.services;
    const target = await users.get(request.params.userId);
    const { name, isAdmin, active } = request.body;
    // everything is checked before the first write
    const input = formValueOrThrow(parseForm(UserUpdateForm, { name: name ?? target.name, isAdmin: checkbox(isAdmin ?? target.isAdmin) }));
    if (active !== undefined && active !== target.active) await users.setActive(target.id, active, actor);
    if (input.name !== target.name || Boolean(input.isAdmin) !== target.isAdmin) await users.update(target.id, { name: input.name, isAdmin: Boolean(input.isAdmin) }, actor);
    return toUser(target);
  });
};

export default usersApi;
