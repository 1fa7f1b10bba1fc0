import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import * as format from '../../lib/format.ts';

type Flash = { kind: 'success' | 'error' | 'info'; message: string };

declare module 'fastify' {
  interface FastifyReply {
    /** Renders a template to HTML with the shared locals (user, CSRF token, flash, formatters). */
    render(template: string, data?: Record<string, unknown>, statusCode?: number): Promise<FastifyReply>;
    /** Shows a message on the next full page. */
    flash(kind: Flash['kind'], message: string): FastifyReply;
  }
}

export default fp(
  async function viewLocals(fastify) {
    fastify.decorateReply('render', async function (this: FastifyReply, template: string, data: Record<string, unknown> = {}, statusCode = 200) {
      const request = this.request as FastifyRequest;
      const session = request.session;
      const locals = {
        user: request.user,
        path: request.url,
        csrfToken: this.generateCsrf(),
        format,
        /** read once by the layout: a flash is shown on exactly one page */
        takeFlash: (): Flash | undefined => {
          const flash = session.get('flash') as Flash | undefined;
          if (flash) session.set('flash', undefined);
          return flash;
        },
        errors: {},
        values: {},
        ...data,
      };
      const html = await this.viewAsync(template, locals);
      return this.code(statusCode).type('text/html; charset=utf-8').send(html);
    });
    fastify.decorateReply('flash', function (this: FastifyReply, kind: Flash['kind'], message: string) {
      this.request.session.set('flash', { kind, message });
      return this;
    });
  },
  { name: 'view-locals', dependencies: ['session'] },
);
