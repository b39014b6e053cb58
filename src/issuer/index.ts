// The issuer: from a pod's service-account token to scoped STS keys. The only folder that imports
// @aws-sdk. src/k8s implements the Kubernetes side (Authenticator, GrantSource) by shape.
export { createIssuerApp, startIssuerServer, ISSUER_DEFAULTS } from './server.ts';
export type { IssuerAppDeps, IssuerServer, IssuerServerOptions, IssuerSettings } from './server.ts';
export { AwsSts, classifyStsError } from './sts.ts';
export type { AssumeRoleParams, AssumedKey, Sts, StsFailure } from './sts.ts';
export { ISSUER_ERRORS, IssuerError, REFUSAL_REASONS, toIssuerError } from './errors.ts';
export type { AccessRefusal, ErrorBody, IssuerErrorCode } from './errors.ts';
export type { Authenticator, EventSink, GrantSource, PodIdentity, SigningKey, StaticCredentials } from './ports.ts';
export type { IssuedKey, KeysResponse, S3IssuedKey, SignedGrantKey } from './issue.ts';
export { UrlSigner, parseListRequest, parseSignRequest } from './sign.ts';
export type { ListRequest, ListResponse, SignRequest, SignResponse, SignMethod } from './sign.ts';
