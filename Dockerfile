# One image for `valet operator` and `valet sidecar`. Node 24 runs the TypeScript sources directly
# (type stripping), so there is no build stage beyond installing production dependencies.
# BASE is the official Node 24 image; the lab, which reaches no registry, passes one it made itself
# from Debian packages and the Node the project already installs (test/lab/image.ts).
ARG BASE=node:24-bookworm-slim
FROM ${BASE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

FROM ${BASE}
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY crds ./crds
# Node's compile cache, filled here by the image's own node as the user that runs it (Node keys the
# cache by uid): at start the sidecar (in every pod) and the operator load compiled code instead of
# running the TypeScript stripper, about 30 MB less resident and ready in about half the time
# (docs/performance.md, section 6). Node opens cache files read-write, so they stay the user's; the
# root file system is read-only at run time (the chart sets it), so nothing changes them there.
ENV NODE_COMPILE_CACHE=/app/.node-compile-cache
RUN mkdir /app/.node-compile-cache && chown 65532:65532 /app/.node-compile-cache
# Non-root; nothing is written at run time, so the root file system can be read-only.
USER 65532:65532
RUN node /app/src/cli/main.ts sidecar --help >/dev/null && node /app/src/cli/main.ts operator --help >/dev/null
ENTRYPOINT ["node", "/app/src/cli/main.ts"]
CMD ["--help"]
