# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only, as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
# /readyz answers 200 while the bot can serve: Redis answers and Slack's auth.test succeeded recently
# (served in HTTP and Socket Mode alike). An orchestrator with separate probes should use /healthz
# (the process is alive) for liveness and /readyz for readiness.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The decision signing key comes at run time, never baked in: mount it as a secret and set
# DECISION_SIGNING_KEY_FILE to its path (or pass DECISION_SIGNING_KEY).
# The command line is in the image too: docker run … IMAGE npx approval-gate status RUN STEP
# (npm's own `build` made dist/client/cli/main.js executable, and COPY keeps the mode).
# Run node directly (not npm) so SIGTERM reaches the bot and it shuts down gracefully.
CMD ["node", "dist/main.js"]
