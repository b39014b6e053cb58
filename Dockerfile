# One image for `valet operator` and `valet sidecar`. Node 24 runs the TypeScript sources directly
# (type stripping), so there is no build stage beyond installing production dependencies.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

FROM node:24-bookworm-slim
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
