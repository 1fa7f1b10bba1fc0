# syntax=docker/dockerfile:1
# Tasklane in one container: the app plus an embedded PostgreSQL kept in the /data volume.
# Set DATABASE_URL to use an external PostgreSQL (>= 15) instead.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# production dependencies only; the embedded PostgreSQL package's postinstall is allowed in package.json
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY views ./views
COPY public ./public
COPY scripts ./scripts
# PostgreSQL refuses to run as root: the whole container runs as the unprivileged `node` user
RUN mkdir -p /data && chown node:node /data
USER node
ENV DATA_DIR=/data PORT=3000 HOST=0.0.0.0
# as `npm start`: large buffers (export and upload pieces) go back to the OS when freed, and few
# malloc arenas; without these glibc keeps freed memory and the RSS only grows
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# tini forwards SIGTERM so Tasklane shuts down in order (HTTP, jobs, database)
ENTRYPOINT ["/usr/bin/tini", "--"]
# as `npm start`: a young generation of at most 2 × 16 MB (V8 sizes it by the machine's memory, up
# to 2 × 64 MB, which streaming a large export or upload fills)
CMD ["node", "--max-semi-space-size=16", "--import", "tsx", "src/server.ts"]
