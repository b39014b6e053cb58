// Fixtures for this folder's tests: a store, a Ready access whose status holds the policy the
// controller would render, a pod, and small fakes of the issuer's ports.
import { PROVIDER_REGISTRY } from '../../providers/index.ts';
import type { AnyDatasetStore, DatasetAccess, DatasetStore } from '../../api/v1alpha1/index.ts';
import { overlappingClaimsIn, renderGrant } from '../../policy/index.ts';
import type { GrantSource, PodIdentity } from '../ports.ts';
import type { StaticCredentials } from '../../policy/index.ts';
import type { AssumeRoleParams, AssumedKey, Sts } from '../sts.ts';

export function store(spec: Partial<DatasetStore['spec']> = {}): DatasetStore {
  return {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetStore',
    metadata: { name: 'lab', namespace: 'team-a', generation: 1, uid: 'store-uid' },
    spec: {
      provider: 's3',
      bucket: 'datasets',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      stsEndpoint: 'http://127.0.0.1:9000',
      roleArn: 'arn:aws:iam::000000000000:role/valet',
      auth: { mode: 'defaultChain' },
      allowedPrefixes: ['imagenet/', 'coco/'],
      allowedVerbs: ['read', 'list', 'write', 'delete'],
      maxSessionDurationSeconds: 3600,
      ...spec,
    },
  };
}

/** A DatasetAccess with the status the controller writes when it is Ready (or `ready: false`). */
export function readyAccess(name: string, spec: Partial<DatasetAccess['spec']> = {}, opts: { store?: AnyDatasetStore; ready?: false; reason?: string; generation?: number; statusGeneration?: number } = {}): DatasetAccess {
  const s = opts.store ?? store();
  const a: DatasetAccess = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name, namespace: 'team-a', generation: opts.generation ?? 2, uid: `${name}-uid` },
    spec: {
      storeRef: { kind: 'DatasetStore', name: 'lab' },
      prefix: 'imagenet/',
      verbs: ['read', 'list'],
      subjects: { serviceAccounts: ['trainer'] },
      sessionDurationSeconds: 900,
      ...spec,
    },
  };
  const observed = opts.statusGeneration ?? a.metadata.generation;
  const rendered = renderGrant(s, a, PROVIDER_REGISTRY);
  const ready = opts.ready !== false && rendered.ok;
  a.status = {
    observedGeneration: observed,
    store: `${s.kind}/${s.metadata.name}`,
    conditions: [
      { type: 'Ready', status: ready ? 'True' : 'False', observedGeneration: observed, lastTransitionTime: '2026-01-01T00:00:00Z', reason: ready ? 'Valid' : (opts.reason ?? 'PrefixNotAllowed'), message: 'm' },
    ],
  };
  if (ready && rendered.ok) {
    a.status.sessionPolicy = rendered.policy;
    a.status.packedPolicySize = rendered.packedSize;
  }
  return a;
}

export function pod(over: Partial<PodIdentity> = {}): PodIdentity {
  return { namespace: 'team-a', serviceAccount: 'trainer', podName: 'trainer-0', podUid: 'uid-0', labels: {}, ...over };
}

export function grantSource(accesses: DatasetAccess[], s: DatasetStore = store(), creds: StaticCredentials | 'defaultChain' = { accessKeyId: 'AKIDISSUER', secretAccessKey: 'issuer-secret' }): GrantSource {
  return {
    accesses: (ns) => accesses.filter((a) => a.metadata.namespace === ns),
    overlappingClaims: (clusterStore, prefix, ns) => overlappingClaimsIn(accesses, clusterStore, prefix, ns),
    store: (a) => (a.spec.storeRef.name === s.metadata.name ? s : undefined),
    storeCredentials: async () => creds,
    signingKey: () => Promise.reject(new Error('the s3 fixture store has no signing key')),
    namespaceLabels: () => ({}),
  };
}

/** An STS that answers from a script: each call takes the next behaviour (default: a fresh key). */
export class ScriptedSts implements Sts {
  readonly calls: AssumeRoleParams[] = [];
  private readonly script: Array<(p: AssumeRoleParams, signal?: AbortSignal) => Promise<AssumedKey>> = [];
  private n = 0;
  now: () => number = () => Date.UTC(2026, 0, 1);

  then(...steps: Array<(p: AssumeRoleParams, signal?: AbortSignal) => Promise<AssumedKey>>): this {
    this.script.push(...steps);
    return this;
  }

  assumeRole(p: AssumeRoleParams, signal?: AbortSignal): Promise<AssumedKey> {
    this.calls.push(p);
    const step = this.script.shift();
    return step ? step(p, signal) : Promise.resolve(this.key(p));
  }

  key(p: AssumeRoleParams): AssumedKey {
    this.n++;
    return { accessKeyId: `ASIA${this.n}`, secretAccessKey: `secret-${this.n}`, sessionToken: `session-${this.n}`, expiration: new Date(this.now() + p.durationSeconds * 1000) };
  }
}

/** An error shaped like the AWS SDK's. */
export function awsError(name: string, status?: number, code?: string): Error {
  return Object.assign(new Error(`${name} happened`), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...(code ? { code } : {}) });
}
