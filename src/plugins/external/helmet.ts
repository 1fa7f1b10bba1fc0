import helmet from '@fastify/helmet';

/** Only same-origin scripts and styles. Task images may come from any http(s) host: the browser loads them, never the server. */
export const helmetOptions = (publicUrl: string | undefined) => ({
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      // htmx sets and clears style attributes while swapping; only the empty style is allowed inline
      styleSrc: ["'self'", "'unsafe-hashes'", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"],
      imgSrc: ["'self'", 'data:', 'https:', 'http:'],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      upgradeInsecureRequests: null,
    },
  },
  // HSTS only when the configured address is https: on-prem installs often serve plain HTTP
  // inside a private network, and a pinned https there would lock users out
  hsts: (publicUrl ?? '').startsWith('https://') ? { maxAge: 365 * 24 * 3600, includeSubDomains: false } : false,
  crossOriginEmbedderPolicy: false,
});

export default helmet;
