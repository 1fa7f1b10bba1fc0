import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseForm, FormBody } from '../../lib/form.ts';

const TokenParams = Type.Object({ tokenId: Type.Integer({ minimum: 1 }) });
const TokenCreateForm = Type.Object({
  name: Type.String({ title: 'Name', minLength: 1, maxLength: 100, errorMessage: 'Use at most 100 characters' }),
});

/** /account/tokens: personal API tokens, shown in full only once, right after creation. */
const apiTokensRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  async function renderTokens(request: FastifyRequest, reply: FastifyReply, data: Record<string, unknown> = {}, status = 200) {
    const user = request.requireUser();
    const tokens = await request.services.apiTokens.list(user);
    return reply.render('account/tokens', { title: 'API tokens', tokens, origin: `${request.protocol}://${request.host}`, ...data }, status);
  }

  fastify.get('/account/tokens', async (request, reply) => renderTokens(request, reply));

  fastify.post('/account/tokens', { schema: { body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const form = parseForm(TokenCreateForm, request.body);
    if (!form.ok) return renderTokens(request, reply, { errors: form.errors, values: request.body }, 422);
    const { token, record } = await request.services.apiTokens.create(user, form.value.name);
    // the token itself exists only in this response; the database keeps its hash
    return renderTokens(request, reply, { newToken: { token, record } }, 201);
  });

  fastify.post('/account/tokens/:tokenId/revocation', { schema: { params: TokenParams, body: FormBody } }, async (request, reply) => {
    const user = request.requireUser();
    const { tokenId } = request.params;
    const record = await request.services.apiTokens.revoke(user, tokenId);
    reply.flash('success', `Token “${record.name}” revoked. Requests using it now fail.`);
    return reply.redirect('/account/tokens', 303);
  });
};

export default apiTokensRoutes;
