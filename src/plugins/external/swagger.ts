import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 40" width="300" height="40">
  <rect x="0" y="8" width="24" height="24" rx="5" fill="#3b5bdb"/><path d="M6 14h12v3H6zm0 5h12v3H6zm0 5h7v3H6z" fill="#fff"/>
  <text x="34" y="27" font-family="system-ui, sans-serif" font-size="17" font-weight="700" fill="#1f2937">Tasklane</text>
  <text x="132" y="27" font-family="system-ui, sans-serif" font-size="14" fill="#6b7280">← back to the app</text></svg>`;
const THEME_CSS = `.swagger-ui .topbar { background: #fff; border-bottom: 1px solid #e3e6eb; padding: 6px 0; }
.swagger-ui .topbar .download-url-wrapper { display: none; }
.swagger-ui .topbar a { max-width: none; }`;

// Swagger UI puts the logo's href on the image, not on its link: the link gets it here
const THEME_JS = `new MutationObserver((_, observer) => {
  const link = document.querySelector('#swagger-ui .topbar .topbar-wrapper > a.link');
  if (!link) return;
  link.href = '/projects';
  link.setAttribute('aria-label', 'Back to Tasklane');
  observer.disconnect();
}).observe(document.documentElement, { childList: true, subtree: true });`;

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
      // on-prem installs often run plain HTTP: never force https sub-requests; Swagger UI sets
      // style attributes at run time, so styles (never scripts) may be inline on this page
      transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '').replace(/style-src ([^;]*)/, "style-src $1 'unsafe-inline'"),
      uiConfig: { docExpansion: 'list', validatorUrl: null },
      // Tasklane's header: its logo leads back to the app
      logo: { type: 'image/svg+xml', content: Buffer.from(LOGO), href: '/projects', target: '_self' },
      theme: {
        title: 'Tasklane API',
        css: [{ filename: 'tasklane.css', content: THEME_CSS }],
        js: [{ filename: 'tasklane.js', content: THEME_JS }],
      },
    });
  },
  { name: 'openapi' },
);
