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
# Non-root; nothing is written at run time, so the root file system can be read-only.
USER 65532:65532
ENTRYPOINT ["node", "/app/src/cli/main.ts"]
CMD ["--help"]
