import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { HttpError } from '../../lib/errors.ts';
import { parseForm, type FieldErrors, FormBody } from '../../lib/form.ts';
import { OwnPasswordForm } from './users.schemas.ts';


/** /account: the signed-in user's own profile and password. */
export default async function accountRoutes(fastify: FastifyInstance) {
  fastify.get('/account', async (request, reply) => {
    request.requireUser();
    return reply.render('account/show', { title: 'Your account' });
  });

  fastify.post('/account/password', { schema: { body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const form = parseForm(OwnPasswordForm, request.body);
    if (!form.ok) return reply.render('account/show', { title: 'Your account', errors: form.errors }, 422);
    try {
      await request.services.users.changeOwnPassword(user, form.value.currentPassword, form.value.password);
    } catch (err) {
      if (!(err instanceof HttpError) || err.statusCode !== 422) throw err;
      const details = err.details && typeof err.details === 'object' ? (err.details as FieldErrors) : {};
      return reply.render('account/show', { title: 'Your account', errors: details, pageError: Object.keys(details).length ? undefined : err.message }, 422);
    }
    // the session version moved on: other sessions end, this browser stays signed in
    request.session.set('sv', user.sessionVersion);
    reply.flash('success', 'Your password is changed. You were signed out everywhere else.');
    return reply.redirect('/account', 303);
  });
}
