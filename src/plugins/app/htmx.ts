import fp from 'fastify-plugin';

export interface HtmxInfo {
  /** A real htmx request (not boosted, not a history restore): may get a fragment. */
  partial: boolean;
  target: string | undefined;
  trigger: string | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    htmx: HtmxInfo;
    /** True when this request should get the fragment for `target` instead of the whole page. */
    wantsFragment(target: string): boolean;
  }
}

export default fp(
  async function htmx(fastify) {
    fastify.decorateRequest('htmx', null as unknown as HtmxInfo);
    fastify.decorateRequest('wantsFragment', function (this: { htmx: HtmxInfo }, target: string) {
      return this.htmx.partial && this.htmx.target === target;
    });
    fastify.addHook('onRequest', async (request, reply) => {
      const header = (name: string) => {
        const value = request.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      request.htmx = {
        partial: header('hx-request') === 'true' && header('hx-boosted') !== 'true' && header('hx-history-restore-request') !== 'true',
        target: header('hx-target'),
        trigger: header('hx-trigger'),
      };
      // the same URL answers a page or a fragment: caches must keep them apart
      reply.header('Vary', 'HX-Request, HX-Target');
    });
  },
  { name: 'htmx' },
);
