import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unprocessable, type HttpError } from '../../lib/errors.ts';
import { formErrors } from '../../plugins/app/form-errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import type { IUser } from './user.entity.ts';
import { PasswordResetForm, UserCreateForm, UserUpdateForm } from './users.schemas.ts';

import { UserParams } from '../../lib/params.ts';

/** What an admin sees right after an invite link was issued: shown on this one page, never again. */
interface InviteNotice {
  /** the absolute link, or null when PUBLIC_URL is not set */
  url: string | null;
  path: string;
  expiresAt: Date | null;
}

/**
 * The link for an invite, for the admin to copy and send. It is built from PUBLIC_URL only: the
 * request's Host header is the client's to choose, and a forged one would send the invitee
 * (and the token) elsewhere.
 */
export function inviteNotice(publicUrl: string | undefined, user: IUser, token: string): InviteNotice {
  const path = `/invite/${token}`;
  return { url: publicUrl ? new URL(path, publicUrl).href : null, path, expiresAt: user.inviteExpiresAt ?? null };
}

/** A 422 or 409 becomes field errors when it names fields, else a message on the page. */
function formFailure(err: HttpError): { errors: FieldErrors; pageError?: string } {
  const details = err.details;
  if (details && typeof details === 'object' && !Array.isArray(details)) return { errors: details as FieldErrors };
  return { errors: {}, pageError: err.message };
}

/** A change to your own password or status bumps your session version: keep this browser signed in. */
async function keepSignedIn(request: FastifyRequest, actor: IUser, target: IUser) {
  if (actor.id === target.id && request.sessionId) await request.services.sessions.repo.keepOnly(actor.id, request.sessionId, target.sessionVersion);
}

function renderEdit(reply: FastifyReply, target: IUser, data: Record<string, unknown> = {}, status = 200) {
  return reply.render(
    'admin/user',
    { title: target.name, target, values: { name: target.name, isAdmin: target.isAdmin }, ...data },
    status,
  );
}

/** Instance administration of user accounts. Everything here answers 404 to non-admins. */
const usersRoutes: FastifyPluginAsyncTypebox<{ publicUrl?: string }> = async (fastify, opts) => {
  fastify.get('/admin/users', async (request, reply) => {
    request.requireInstanceAdmin();
    const users = await request.services.users.users.list();
    return reply.render('admin/users', { title: 'Users', users, now: new Date() });
  });

  fastify.get('/admin/users/new', async (request, reply) => {
    request.requireInstanceAdmin();
    return reply.render('admin/new-user', { title: 'New user' });
  });

  const createErrors = formErrors({ body: FormBody }, {
    render: (request, reply, err) => reply.render('admin/new-user', { title: 'New user', values: request.body, ...formFailure(err) }, 422),
  });

  fastify.post('/admin/users', { schema: { body: FormBody }, config: { formErrors: createErrors } }, async (request, reply) => {
    request.requireInstanceAdmin();
    const form = parseForm(UserCreateForm, request.body);
    if (!form.ok) throw unprocessable('The user is not valid', form.errors);
    const { user, inviteToken } = await request.services.users.create({ ...form.value, isAdmin: Boolean(form.value.isAdmin) });
    if (inviteToken) {
      // the link is shown on this response only: not in a flash cookie, not in a URL
      return renderEdit(reply, user, { invite: inviteNotice(opts.publicUrl, user, inviteToken), created: true }, 201);
    }
    reply.flash('success', `${user.name} can now sign in with the password you set.`);
    return reply.redirect(`/admin/users/${user.id}`, 303);
  });

  fastify.get('/admin/users/:userId', { schema: { params: UserParams } }, async (request, reply) => {
    request.requireInstanceAdmin();
    const { userId } = request.params;
    return renderEdit(reply, await request.services.users.get(userId));
  });

  const UserFormSchema = { params: UserParams, body: FormBody };
  const updateErrors = formErrors(UserFormSchema, {
    render: async (request, reply, err) => renderEdit(reply, await request.services.users.get(request.params.userId), { values: request.body, ...formFailure(err) }, 422),
  });
  const activeErrors = formErrors(UserFormSchema, {
    render: async (request, reply, err) => {
      const failure = formFailure(err);
      return renderEdit(reply, await request.services.users.get(request.params.userId), { pageError: failure.pageError ?? Object.values(failure.errors)[0] }, 422);
    },
  });

  fastify.post('/admin/users/:userId', { schema: UserFormSchema, config: { formErrors: updateErrors } }, async (request, reply) => {
    const actor = request.requireInstanceAdmin();
    const { userId } = request.params;
    await request.services.users.get(userId); // 404 before the form is read
    const form = parseForm(UserUpdateForm, request.body);
    if (!form.ok) throw unprocessable('The user is not valid', form.errors);
    await request.services.users.update(userId, { name: form.value.name, isAdmin: Boolean(form.value.isAdmin) }, actor);
    reply.flash('success', 'Changes saved.');
    return reply.redirect(`/admin/users/${userId}`, 303);
  });

  fastify.post('/admin/users/:userId/password', { schema: { params: UserParams, body: FormBody } }, async (request, reply) => {
    const actor = request.requireInstanceAdmin();
    const { userId } = request.params;
    const target = await request.services.users.get(userId);
    // your own password changes on /account, which asks for the current one
    if (target.id === actor.id) return renderEdit(reply, target, { pageError: 'Change your own password on your account page.' }, 422);
    const form = parseForm(PasswordResetForm, request.body);
    if (!form.ok) return renderEdit(reply, target, { passwordErrors: form.errors }, 422);
    const { user, inviteToken } = await request.services.users.resetPassword(userId, form.value.password);
    if (inviteToken) {
      return renderEdit(reply, user, { invite: inviteNotice(opts.publicUrl, user, inviteToken) });
    }
    reply.flash('success', `Password changed. ${user.name} has been signed out everywhere.`);
    return reply.redirect(`/admin/users/${userId}`, 303);
  });

  fastify.post('/admin/users/:userId/deactivation', { schema: UserFormSchema, config: { formErrors: activeErrors } }, async (request, reply) => {
    return setActive(request, reply, false);
  });

  fastify.post('/admin/users/:userId/activation', { schema: UserFormSchema, config: { formErrors: activeErrors } }, async (request, reply) => {
    return setActive(request, reply, true);
  });

  async function setActive(request: FastifyRequest<{ Params: { userId: number } }>, reply: FastifyReply, active: boolean) {
    const actor = request.requireInstanceAdmin();
    const { userId } = request.params;
    const target = await request.services.users.get(userId);
    await request.services.users.setActive(userId, active, actor);
    await keepSignedIn(request, actor, target);
    reply.flash('success', active ? `${target.name} is active again and can sign in.` : `${target.name} is deactivated and has been signed out.`);
    return reply.redirect(`/admin/users/${userId}`, 303);
  }
};

export default usersRoutes;
