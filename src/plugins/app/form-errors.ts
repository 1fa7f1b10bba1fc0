import fp from 'fastify-plugin';
import type {
  FastifyReply, FastifyRequest, FastifySchema, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault, RouteGenericInterface,
} from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { HttpError } from '../../lib/errors.ts';

/** A request as a TypeBox route with this schema sees it (params, query and body typed). */
export type RequestOf<S extends FastifySchema> = FastifyRequest<RouteGenericInterface, RawServerDefault, RawRequestDefaultExpression, S, TypeBoxTypeProvider>;

/**
 * How a page route answers the user mistakes its handler throws (an `HttpError` below 500): it
 * shows its form again with the error and what was typed, or flashes the message and goes back.
 */
export interface FormErrors<R = FastifyRequest> {
  /** the statuses answered this way (default 422 and 409: the input is not valid, or clashes with what exists); `any` is every 4xx */
  statuses?: readonly number[] | 'any';
  /** the form again, with the error (the status is the error's) */
  render?(request: R, reply: FastifyReply, error: HttpError): Promise<FastifyReply>;
  /** or: the message as a flash, then 303 to this URL */
  back?(request: R, error: HttpError): string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    formErrors?: FormErrors;
  }
}

/** The form errors of a route, with its request typed by the route's schema. */
export const formErrors = <S extends FastifySchema>(_schema: S, spec: FormErrors<RequestOf<S>>): FormErrors => spec as FormErrors;

function handles(spec: FormErrors, err: unknown): err is HttpError {
  if (!(err instanceof HttpError) || err.statusCode >= 500 || err.statusCode < 400) return false;
  const statuses = spec.statuses ?? [422, 409];
  return statuses === 'any' ? err.statusCode !== 401 : statuses.includes(err.statusCode);
}

/**
 * The one path of the page forms' errors. Only what the handler throws is a form error: what the
 * hooks refuse before it (CSRF, validation, project access and role) reaches the app's error
 * handler unchanged, so each route's handler is wrapped here instead of catching in each route.
 */
export default fp(
  async function formErrorsPlugin(fastify) {
    fastify.addHook('onRoute', (route) => {
      const spec = route.config?.formErrors;
      if (!spec) return;
      const handler = route.handler;
      route.handler = async function (request, reply) {
        try {
          return await handler.call(this, request, reply);
        } catch (err) {
          if (!handles(spec, err)) throw err;
          if (spec.render) return spec.render(request, reply, err);
          reply.flash('error', err.message);
          return reply.redirect(spec.back!(request, err), 303);
        }
      };
    });
  },
  { name: 'form-errors' },
);
