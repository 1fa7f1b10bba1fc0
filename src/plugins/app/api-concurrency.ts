import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route holds its request for as long as a transfer takes (a streamed upload or download,
     * paced by the client's network): it is not counted against API_CONCURRENCY, or a few slow
     * transfers would hold every turn.
     */
    transfer?: boolean;
  }
}

/**
 * At most `limit` API requests of this process run at once; the others wait their turn, first come
 * first served. API clients (annotation tools, pipelines) send work in tight loops; without a
 * limit they hold every connection of the pool and each query of a page waits behind them. With
 * it, the connections the API leaves free serve the pages at once. A request that waits is not
 * lost: it runs when a slot frees, and a client that hangs up meanwhile gives its turn away.
 */
export function limitApiConcurrency(fastify: FastifyInstance, limit: number) {
  let running = 0;
  const waiting: Array<() => void> = [];

  const release = () => {
    const next = waiting.shift();
    if (next) next(); // the slot passes straight on: `running` stays the same
    else running--;
  };

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.routeOptions.config.transfer) return;
    if (running < limit) running++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    // 'close' comes once per response: when it is sent, or when the client went away
    if (reply.raw.closed) return release();
    reply.raw.once('close', release);
  });
}
