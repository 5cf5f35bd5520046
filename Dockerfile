# syntax=docker/dockerfile:1
# Edge gateway image: multi-stage (build with dev dependencies, run with
# production dependencies only), non-root, config as a volume, SIGTERM reaching
# Node directly (exec-form ENTRYPOINT, no shell wrapper) so drains are graceful.

ARG NODE_VERSION=20.20.2

# ---- build: compile TypeScript with the full dependency set -----------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY gateway ./gateway
COPY plugins ./plugins
COPY discovery-sync ./discovery-sync
COPY test ./test
COPY bench ./bench
RUN npx tsc -p . \
 && rm -rf dist/test dist/bench dist/.tsbuildinfo

# ---- production dependencies only ------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime -----------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production
# The bundled config listens on ${LISTEN_HOST:-127.0.0.1}: in a container the
# data plane must take connections from outside it.
ENV LISTEN_HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
# The bundled demo config; mount your own over /app/config.
COPY --chown=node:node config ./config
USER node
VOLUME ["/app/config"]
# Data plane and admin API (the admin API binds 127.0.0.1 by default: set
# admin.host: 0.0.0.0 and admin.token in the mounted config to reach it from outside).
EXPOSE 8080 9180
# Node's own fetch against the admin health endpoint: no curl needed in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9180/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/gateway/cli.js"]
CMD ["start", "--config", "config/gateway.yaml"]
