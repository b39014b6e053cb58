// Every error the issuer answers with, in one table: a stable code that clients (the sidecar),
// alerts and docs/errors.md match on, the HTTP status, the safe message a caller sees and whether
// (and after how long) retrying makes sense. Messages never carry a secret; a 401 carries no detail
// at all, so a caller cannot probe why a token was refused. Part of the issuer's wire contract.

export interface ErrorSpec {
  readonly status: number;
  /** The message a caller sees when the thrower gives none (always, for 401). */
  readonly message: string;
  /** Seconds for the Retry-After header; absent when retrying the same request cannot help. */
  readonly retryAfterSeconds?: number;
  /** One line for docs/errors.md: when the issuer answers with this code. */
  readonly when: string;
}

export const ISSUER_ERRORS = {
  Unauthenticated: {
    status: 401,
    message: 'authentication failed',
    when: 'No `Authorization: Bearer` header, a malformed or expired token, a token for another audience than `valet.dev`, or a token not bound to a pod. Never says which.',
  },
  PodNotFound: {
    status: 403,
    message: 'the pod this token is bound to does not exist',
    when: 'The token is valid but its pod was deleted (kube-apiserver caches successful token reviews for 10 s; the issuer reads the pod itself).',
  },
  PodTerminating: {
    status: 403,
    message: 'the pod this token is bound to is terminating',
    when: 'The pod has a deletionTimestamp.',
  },
  PodFinished: {
    status: 403,
    message: 'the pod this token is bound to has finished',
    when: 'The pod\'s phase is Succeeded or Failed: its containers have all stopped for good, so its token (still valid until it expires) mints nothing.',
  },
  PodUidMismatch: {
    status: 403,
    message: 'the pod this token is bound to was replaced by another pod of the same name',
    when: 'A pod of that name exists, but with another UID than the token names.',
  },
  NoGrant: {
    status: 403,
    message: 'no DatasetAccess grants this pod',
    when: 'No Ready DatasetAccess in the pod\'s namespace matches the pod (or the ones requested by name do not). The body lists a reason per access considered.',
  },
  AccessNotReady: {
    status: 403,
    message: 'the DatasetAccess objects that name this pod are not Ready',
    when: 'Some DatasetAccess matches the pod\'s service account and labels, but none of them is Ready (or its status is stale). Retry once the controller has reconciled it; the reasons name the condition.',
    retryAfterSeconds: 10,
  },
  StoreForbidsGrant: {
    status: 403,
    message: 'the store no longer allows what the DatasetAccess grants',
    when: 'Every DatasetAccess that names the pod asks for a prefix, verb or session duration that its store\'s current spec (allowedPrefixes, allowedVerbs, maxSessionDurationSeconds) does not allow, whatever its status says. The issuer checks the store itself; change the access or ask the store\'s admin.',
  },
  BadRequest: {
    status: 400,
    message: 'the request body is not valid',
    when: 'The body is not JSON, or not the documented shape: `{"accesses"?: string[]}` for /v1/keys, `{"access", "method", "keys", "expiresSeconds"?}` for /v1/sign, `{"access", "prefix"?, "continuationToken"?, "maxResults"?}` for /v1/list.',
  },
  PayloadTooLarge: {
    status: 413,
    message: 'the request body is too large',
    when: 'The body exceeds 16 KiB (POST /v1/sign: 2 MiB).',
  },
  UnsupportedMediaType: {
    status: 415,
    message: 'the request body must be application/json',
    when: 'A body with another content type than `application/json`.',
  },
  NotFound: {
    status: 404,
    message: 'no such endpoint',
    when: 'An unknown path.',
  },
  MethodNotAllowed: {
    status: 405,
    message: 'method not allowed',
    when: 'Another method than POST on `/v1/keys`, `/v1/sign` or `/v1/list` (the `Allow` header names the allowed one).',
  },
  RateLimited: {
    status: 429,
    message: 'too many STS calls for this store; retry later',
    when: 'The store\'s STS rate limit queue is full, the pod\'s namespace already holds its share of it (250 waiting calls by default; the queue is served round robin between namespaces), or the wait in it would exceed the request deadline.',
    retryAfterSeconds: 1,
  },
  Overloaded: {
    status: 503,
    message: 'the issuer is handling too many requests; retry later',
    when: 'The issuer\'s global limit of concurrent requests is reached.',
    retryAfterSeconds: 1,
  },
  StsUnavailable: {
    status: 503,
    message: 'the store\'s STS endpoint is unreachable; retry later',
    when: 'Connecting to STS failed (refused, reset, timed out) on every attempt within the request deadline.',
    retryAfterSeconds: 5,
  },
  StsThrottled: {
    status: 503,
    message: 'the store\'s STS endpoint is throttling the issuer; retry later',
    when: 'STS answered with throttling (429, Throttling, SlowDown) on every attempt within the request deadline.',
    retryAfterSeconds: 5,
  },
  StsError: {
    status: 502,
    message: 'the store\'s STS endpoint failed',
    when: 'STS answered with a server error (5xx) on every attempt within the request deadline.',
    retryAfterSeconds: 5,
  },
  StsRejected: {
    status: 502,
    message: 'the store\'s STS endpoint refused to issue a key',
    when: 'STS refused AssumeRole (4xx: access denied, invalid policy, duration above the role\'s maximum, ...): a store or role misconfiguration. Not retried.',
  },
  StoreCredentialsUnavailable: {
    status: 503,
    message: 'the issuer cannot read the credentials of the store',
    when: 'The store uses secret auth (s3), an account key (azureBlob) or a signing key (gcs), and its Secret is missing, lacks a key, holds an unusable key, or cannot be read.',
    retryAfterSeconds: 10,
  },
  WrongProvider: {
    status: 409,
    message: 'the access\'s store is of another provider than this endpoint serves',
    when: 'POST /v1/sign or /v1/list for an access on an s3 store (its pods use the STS keys of /v1/keys), or /v1/list on a provider that has no listing (gcs).',
  },
  VerbNotGranted: {
    status: 403,
    message: 'the access does not grant the verb this method needs',
    when: 'POST /v1/sign with a method whose verb (GET and HEAD: read, PUT: write, DELETE: delete) is not in the access\'s spec.verbs, or /v1/list without list.',
  },
  ObjectOutsideGrant: {
    status: 403,
    message: 'an object key is not inside the access\'s prefix',
    when: 'POST /v1/sign naming a key outside the granted folder, or one that is not a plain key (`..`, a leading `/`, an encoded escape); POST /v1/list with a prefix outside the folder. Nothing is signed.',
  },
  StoreListFailed: {
    status: 502,
    message: 'listing the store failed',
    when: 'The storage service refused or failed the issuer\'s own list call (POST /v1/list on an azureBlob store).',
    retryAfterSeconds: 5,
  },
  KubernetesUnavailable: {
    status: 503,
    message: 'the Kubernetes API server is unavailable; retry later',
    when: 'TokenReview or the pod read failed for another reason than the token or the pod.',
    retryAfterSeconds: 2,
  },
  Timeout: {
    status: 504,
    message: 'the request did not complete within its deadline',
    when: 'The request deadline (default 10 s) passed before a key was minted.',
    retryAfterSeconds: 1,
  },
  Internal: {
    status: 500,
    message: 'internal error',
    when: 'A bug. The log has the details; the response never does.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type IssuerErrorCode = keyof typeof ISSUER_ERRORS;

export const isIssuerErrorCode = (code: unknown): code is IssuerErrorCode => typeof code === 'string' && Object.hasOwn(ISSUER_ERRORS, code);

/** Why one DatasetAccess did not grant the pod (listed in a 403). */
export interface AccessRefusal {
  access: string;
  reason: string;
  message: string;
}

/** The JSON body of an error response. */
export interface ErrorBody {
  error: { code: IssuerErrorCode; message: string; reasons?: AccessRefusal[] };
}

/** The `reason` values of AccessRefusal, documented with the codes. */
export const REFUSAL_REASONS = {
  NotFound: 'A requested DatasetAccess does not exist in the pod\'s namespace (accesses grant only pods of their own namespace).',
  NotRequested: 'The request named other accesses.',
  ServiceAccountNotIncluded: 'spec.subjects.serviceAccounts does not include the pod\'s service account.',
  PodSelectorMismatch: 'The pod\'s labels do not match spec.subjects.podSelector.',
  NamespaceMismatch: 'The access is in another namespace than the pod.',
  NotReady: 'The access is not Ready; the message names the condition reason (e.g. `not Ready: PrefixNotAllowed`).',
  StoreForbids: "The store's current spec does not allow the access's prefix, verbs or session duration (checked by the issuer itself, whatever the access's status says); the message names the condition reason, e.g. `PrefixNotAllowed`.",
  StaleStatus: 'The status was written for an older generation, or its session policy differs from the one the issuer renders now.',
  StoreNotFound: 'The issuer does not (yet) see the store the access names.',
  NamespaceNotSelected: "The access names a ClusterDatasetStore whose namespaceSelector does not select the pod's namespace (checked by the issuer itself, whatever the access's status says).",
} as const;
export type RefusalReason = keyof typeof REFUSAL_REASONS;

/** docs/errors.md, generated from the table (errors.test.ts keeps the file equal to this). */
export function renderErrorsMarkdown(): string {
  const rows = Object.entries(ISSUER_ERRORS).map(([code, s]: [string, ErrorSpec]) => {
    const retry = s.retryAfterSeconds === undefined ? '' : `${s.retryAfterSeconds} s`;
    return `| \`${code}\` | ${s.status} | ${retry} | ${s.message} | ${s.when.replaceAll('|', '\\|')} |`;
  });
  return [
    '# Issuer errors',
    '',
    '<!-- Generated from src/api/issuer/v1/errors.ts (ISSUER_ERRORS); src/issuer/errors.test.ts fails when they differ. -->',
    '',
    'Every refusal of `POST /v1/keys`, `/v1/sign` and `/v1/list` has this JSON body, with a stable `code` to match on:',
    '',
    '```json',
    '{"error": {"code": "NoGrant", "message": "no DatasetAccess grants this pod",',
    '           "reasons": [{"access": "team-a/imagenet", "reason": "ServiceAccountNotIncluded",',
    '                        "message": "subjects do not include service account \\"other\\""}]}}',
    '```',
    '',
    '`reasons` appears on 403s about grants. Codes with a Retry-After value send that header;',
    'retrying the others unchanged cannot succeed. Messages never contain a key, a token or a',
    'Secret; a 401 never says why the token was refused. Each refusal is also one audit log line',
    '(`msg: "key refused"`) with the same code.',
    '',
    '| Code | HTTP | Retry-After | Message | When |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Reasons in a 403',
    '',
    '| Reason | Meaning |',
    '| --- | --- |',
    ...Object.entries(REFUSAL_REASONS).map(([r, m]) => `| \`${r}\` | ${m} |`),
    '',
  ].join('\n');
}
