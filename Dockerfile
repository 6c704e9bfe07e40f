# syntax=docker/dockerfile:1
# One image for every role of the platform; the command picks the role:
#
#   docker build -t switchboard .
#   docker run --rm switchboard worker --help
#   docker run --rm switchboard controller      (or queue, worker, sip-edge, migrate, switchboard)
#
# docker-compose.yml runs the whole platform from it. Stages: `build` compiles the six packages
# the image runs (not the sandbox or the benches), `prod-deps` installs their production
# dependencies, `runtime` holds only those two results.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
# npm ci checks package.json against the lock file for every workspace the root names, so both
# dependency stages see all of the workspaces' manifests (and only their manifests: a source
# change does not invalidate the install layer).
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/runtime/package.json packages/runtime/
COPY packages/storage/package.json packages/storage/
COPY packages/queue/package.json packages/queue/
COPY packages/worker/package.json packages/worker/
COPY packages/controller/package.json packages/controller/
COPY packages/sip-edge/package.json packages/sip-edge/
COPY packages/sandbox/package.json packages/sandbox/
COPY bench/package.json bench/

FROM base AS build
# Install scripts stay off: the compiler needs none, and of the three packages in the tree that
# have one, the root package.json's allowScripts lets only esbuild's (a test tool) run;
# --ignore-scripts keeps that true whichever npm release the base image ships.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY packages/runtime/ packages/runtime/
COPY packages/storage/ packages/storage/
COPY packages/queue/ packages/queue/
COPY packages/worker/ packages/worker/
COPY packages/controller/ packages/controller/
COPY packages/sip-edge/ packages/sip-edge/
# `npm run build` is `tsc -b` over every project, the sandbox and the benches included; the
# image needs these four and the projects they reference (runtime, storage).
RUN npx tsc -b packages/queue packages/worker packages/controller packages/sip-edge

FROM base AS prod-deps
# The six packages' production dependencies, nothing else. Their devDependencies are dropped
# from the manifests first: the controller, storage and worker name the sandbox as one, and
# the sandbox (a regular dependency of the benches) would otherwise be installed through that
# edge even with --omit=dev. The lock file still pins every version that is installed.
RUN npm pkg delete devDependencies --workspaces --include-workspace-root \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
      --workspace=packages/runtime --workspace=packages/storage --workspace=packages/queue \
      --workspace=packages/worker --workspace=packages/controller --workspace=packages/sip-edge

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules node_modules
# Each package: its manifest (the daemons report its version; node_modules/@switchboard/* link
# here) and its compiled JavaScript, nothing from src or test.
COPY --from=build /app/packages/runtime/package.json packages/runtime/
COPY --from=build /app/packages/runtime/dist packages/runtime/dist
COPY --from=build /app/packages/storage/package.json packages/storage/
COPY --from=build /app/packages/storage/dist packages/storage/dist
COPY --from=build /app/packages/queue/package.json packages/queue/
COPY --from=build /app/packages/queue/dist packages/queue/dist
COPY --from=build /app/packages/worker/package.json packages/worker/
COPY --from=build /app/packages/worker/dist packages/worker/dist
COPY --from=build /app/packages/controller/package.json packages/controller/
COPY --from=build /app/packages/controller/dist packages/controller/dist
COPY --from=build /app/packages/sip-edge/package.json packages/sip-edge/
COPY --from=build /app/packages/sip-edge/dist packages/sip-edge/dist
COPY docker/entrypoint.sh docker/healthcheck.mjs docker/
# The code stays root's and read-only to the daemons. The spool directory is the node user's:
# a named volume mounted there starts as a copy of it, ownership included, so the worker can
# write to it without running as root.
RUN chmod 0755 docker/entrypoint.sh \
 && mkdir -p /var/lib/switchboard/spool \
 && chown -R node:node /var/lib/switchboard
USER node
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["help"]
