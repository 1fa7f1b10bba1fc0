import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fp from 'fastify-plugin';
import fastifyStatic from '@fastify/static';

const require = createRequire(import.meta.url);
/** htmx is pinned exactly in package.json and served straight from its package. */
export const htmxDir = join(dirname(require.resolve('htmx.org/package.json')), 'dist');
const publicDir = fileURLToPath(new URL('../../../public', import.meta.url));

export default fp(
  async function statics(fastify) {
    await fastify.register(fastifyStatic, { root: publicDir, prefix: '/static/', maxAge: '1h' });
    await fastify.register(fastifyStatic, {
      root: htmxDir,
      prefix: '/vendor/htmx/',
      decorateReply: false,
      allowedPath: (path) => path === '/htmx.min.js',
      maxAge: '1d',
    });
  },
  { name: 'static' },
);
