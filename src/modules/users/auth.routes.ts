import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FormErrors } from '../../plugins/app/form-errors.ts';
import { parseForm, FormBody } from '../../lib/form.ts';
import { InviteForm, LoginForm, SetupForm, safeNext } from './users.schemas.ts';


const authRoutes: FastifyPluginAsyncTypebox<{ loginRateLimit: number }> = async (fastify, opts) => {
  fastify.get('/', async (request, reply) => reply.redirect(request.user ? '/projects' : '/login'));

  fastify.get('/setup', async (request, reply) => {
    if (await request.services.users.users.any()) return reply.redirect('/login');
    return reply.render('auth/setup', { title: 'Set up' });
  });

  // another browser finished the setup first: theirs stands, sign in
  const setupErrors: FormErrors = { statuses: [409], render: async (request, reply) => reply.redirect('/login', 303) };

  fastify.post('/setup', { schema: { body: FormBody }, config: { formErrors: setupErrors } }, async (request, reply) => {
    if (await request.services.users.users.any()) return reply.redirect('/login', 303);
    const form = parseForm(SetupForm, request.body);
    if (!form.ok) return reply.render('auth/setup', { title: 'Set up', errors: form.errors, values: request.body }, 422);
    const user = await request.services.users.createFirstAdmin(form.value);
    await request.signIn(user);
    reply.flash('success', 'Welcome to Tasklane. Create your first project.');
    return reply.redirect('/projects', 303);
  });

  fastify.get('/login', { schema: { querystring: Type.Object({ next: Type.Optional(Type.String({ maxLength: 2000 })) }) } }, async (request, reply) => {
    const { next } = request.query;
    if (request.user) return reply.redirect(safeNext(next));
    return reply.render('auth/login', { title: 'Sign in', next });
  });

  fastify.post(
    '/login',
    {
      schema: { body: FormBody },
      config: { rateLimit: { max: opts.loginRateLimit, timeWindow: '1 minute' } },
    },
    async (request, reply) => {
      const form = parseForm(LoginForm, request.body);
      const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const values = { email: text(request.body.email) ?? '' };
      const next = text(request.body.next);
      if (!form.ok) return reply.render('auth/login', { title: 'Sign in', errors: form.errors, values, next }, 422);
      const user = await request.services.users.authenticate(form.value.email, form.value.password);
      if (!user) {
        // one answer for unknown users and wrong passwords
        return reply.render('auth/login', { title: 'Sign in', error: 'Email or password is not right.', values, next }, 401);
      }
      await request.signIn(user);
      return reply.redirect(safeNext(form.value.next), 303);
    },
  );

  fastify.post('/logout', async (request, reply) => {
    await request.signOut();
    return reply.redirect('/login', 303);
  });

  const InviteParams = Type.Object({ token: Type.String({ maxLength: 200 }) });

  fastify.get('/invite/:token', { schema: { params: InviteParams } }, async (request, reply) => {
    const { token } = request.params;
    const invitee = await request.services.users.findByInvite(token);
    if (!invitee) return reply.render('errors/error', { status: 404, title: 'Invite not valid', message: 'This invite link is invalid or has expired. Ask an administrator for a new one.' }, 404);
    return reply.render('auth/invite', { title: 'Accept invite', invitee, token });
  });

  fastify.post('/invite/:token', { schema: { params: InviteParams, body: FormBody } }, async (request, reply) => {
    const { token } = request.params;
    const invitee = await request.services.users.findByInvite(token);
    if (!invitee) return reply.render('errors/error', { status: 404, title: 'Invite not valid', message: 'This invite link is invalid or has expired. Ask an administrator for a new one.' }, 404);
    const form = parseForm(InviteForm, request.body);
    if (!form.ok) return reply.render('auth/invite', { title: 'Accept invite', invitee, token, errors: form.errors }, 422);
    const user = await request.services.users.acceptInvite(token, form.value.password);
    await request.signIn(user);
    reply.flash('success', 'Your password is set. Welcome to Tasklane.');
    return reply.redirect('/projects', 303);
  });
};

export default authRoutes;
