import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { notFound, unprocessable } from '../../lib/errors.ts';
import type { FormErrors } from '../../plugins/app/form-errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import { OwnPasswordForm } from './users.schemas.ts';

const SessionParams = Type.Object({ sessionId: Type.Integer({ minimum: 1 }) });

async function renderAccount(request: FastifyRequest, reply: FastifyReply, data: Record<string, unknown> = {}, status = 200) {
  const user = request.requireUser();
  const sessions = await request.services.sessions.list(user, request.server.sessionPolicy);
  return reply.render('account/show', { title: 'Your account', sessions, currentSessionId: request.sessionId, sessionPolicy: request.server.sessionPolicy, ...data }, status);
}


/** /account: the signed-in user's own profile and password. */
const accountRoutes: FastifyPluginAsyncTypebox<{ passwordRateLimit: number }> = async (fastify, opts) => {
  fastify.get('/account', async (request, reply) => {
    return renderAccount(request, reply);
  });

  // ── the signed-in browsers: list them, end one, end all others ──────────────────────────
  fastify.post('/account/sessions/:sessionId/deletion', { schema: { params: SessionParams, body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const { sessionId } = request.params;
    if (sessionId === request.sessionId) {
      await request.signOut();
      return reply.redirect('/login', 303);
    }
    const ended = await request.services.sessions.repo.end(user.id, sessionId);
    if (!ended) throw notFound('No such session');
    reply.flash('success', 'That session is signed out.');
    return reply.redirect('/account#sessions', 303);
  });

  fastify.post('/account/sessions/deletion', { schema: { body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const ended = await request.services.sessions.repo.endOthers(user.id, request.sessionId!);
    reply.flash('success', ended === 1 ? 'Signed out of 1 other session.' : `Signed out of ${ended} other sessions.`);
    return reply.redirect('/account#sessions', 303);
  });

  // the current-password check is a password guess like a sign-in: limited the same way
  const passwordErrors: FormErrors = {
    render: (request, reply, err) => {
      const details = err.details && typeof err.details === 'object' ? (err.details as FieldErrors) : {};
      return renderAccount(request, reply, { errors: details, pageError: Object.keys(details).length ? undefined : err.message }, 422);
    },
  };

  fastify.post('/account/password', {
    schema: { body: FormBody },
    config: { rateLimit: { max: opts.passwordRateLimit, timeWindow: '1 minute' }, formErrors: passwordErrors },
  }, async (request, reply) => {
    const user = request.requireUser();
    const form = parseForm(OwnPasswordForm, request.body);
    if (!form.ok) throw unprocessable('The password is not changed', form.errors);
    await request.services.users.changeOwnPassword(user, form.value.currentPassword, form.value.password);
    // the password change ended every session; this browser's is kept
    await request.services.sessions.repo.keepOnly(user.id, request.sessionId!, user.sessionVersion);
    reply.flash('success', 'Your password is changed. You were signed out everywhere else.');
    return reply.redirect('/account', 303);
  });
};

export default accountRoutes;
