// The issuer: from a pod's service-account token to scoped STS keys. Its wire contract (routes,
// bodies, error codes) is src/api/issuer/v1. The only folder that imports
// @aws-sdk. src/k8s implements the Kubernetes side (Authenticator, GrantSource) by shape.
export { createIssuerApp, startIssuerServer, ISSUER_DEFAULTS } from './server.ts';
export type { IssuerAppDeps, IssuerServer, IssuerServerOptions, IssuerSettings } from './server.ts';
export { AwsSts, classifyStsError } from './sts.ts';
export type { AssumeRoleParams, AssumedKey, Sts, StsFailure } from './sts.ts';
export { IssuerError, toIssuerError } from './errors.ts';
export type { Authenticator, EventSink, GrantSource, PodIdentity } from './ports.ts';
export { UrlSigner, parseListRequest, parseSignRequest } from './sign.ts';
