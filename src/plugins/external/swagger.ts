import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

/** The OpenAPI document is generated from the TypeBox schemas that validate the API routes. */
export default fp(
  async function openapi(fastify) {
    await fastify.register(swagger, {
      openapi: {
        info: {
          title: 'Tasklane API',
          version: '1',
          description: 'Task management for data-annotation teams. Authenticate with `Authorization: Bearer <token>` (create tokens under Account → API tokens).',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      hideUntagged: true,
    });
    await fastify.register(swaggerUi, {
      routePrefix: '/api/docs',
      staticCSP: true,
      // on-prem installs often run plain HTTP: never force https sub-requests
      transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
      uiConfig: { docExpansion: 'list', validatorUrl: null },
    });
  },
  { name: 'openapi' },
);
