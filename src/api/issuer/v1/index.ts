// The issuer's wire contract, v1: routes, request and response types, every error code. The issuer
// serves it, the sidecar calls it, docs/errors.md is generated from it. Imports only src/api.
export * from './errors.ts';
export * from './keys.ts';
export * from './paths.ts';
export * from './sign.ts';
