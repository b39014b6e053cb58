// Status writes against a real HTTP server that serves PUT /status the way the API server does for
// a custom resource: the body's resourceVersion is a precondition (409 if stale), only its status is
// taken (the rest is copied from the stored object), and the whole object comes back (which the
// writer must not need). That the real kube-apiserver behaves so was checked once by hand against
// the lab (docs/performance.md §5).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DatasetAccess, DatasetAccessStatus } from '../api/v1alpha1/index.ts';
import type { K8sClients } from './clients.ts';
import { startLocalApiServer } from './testdata/local-api-server.ts';
import type { LocalApiServer, RecordedRequest } from './testdata/local-api-server.ts';
import { isConflict } from './keys.ts';
import { statusPath, writeAccessStatus, writeStatus } from './status.ts';

type Stored = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string; resourceVersion: string; managedFields?: unknown }; spec: unknown; status?: Record<string, unknown> };

let api: LocalApiServer | undefined;
let clients: K8sClients;
const objects = new Map<string, Stored>();
let requests: RecordedRequest[] = [];

beforeAll(async () => {
  api = await startLocalApiServer((req, res) => {
    const { body } = req;
    const path = (req.url ?? '').replace(/\/status$/, '');
    const obj = objects.get(path);
    const status = (code: number, reason: string, message: string) =>
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
    if (!req.url?.endsWith('/status') || req.method !== 'PUT') return status(405, 'MethodNotAllowed', 'only PUT of /status here');
    if (req.headers['content-type'] !== 'application/json') return status(415, 'UnsupportedMediaType', `content-type ${req.headers['content-type']}`);
    if (!obj) return status(404, 'NotFound', 'not found');
    const sent = JSON.parse(body) as { kind?: string; metadata?: { name?: string; resourceVersion?: string; uid?: string }; status?: Record<string, unknown> };
    if (sent.kind !== obj.kind || sent.metadata?.name !== obj.metadata.name) return status(400, 'BadRequest', 'kind or name does not match');
    const rv = sent.metadata?.resourceVersion;
    if (!rv) return status(422, 'Invalid', 'metadata.resourceVersion: must be specified for an update');
    if (rv !== obj.metadata.resourceVersion) return status(409, 'Conflict', 'Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again');
    if (sent.metadata?.uid !== undefined && sent.metadata.uid !== obj.metadata.uid) return status(409, 'Conflict', 'Precondition failed: UID in precondition does not match');
    if (sent.status === undefined) delete obj.status;
    else obj.status = sent.status;
    obj.metadata.resourceVersion = String(Number(obj.metadata.resourceVersion) + 1);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
  });
  ({ clients, requests } = api);
});

afterAll(() => api?.close());

const ref = { group: 'valet.dev', version: 'v1alpha1', plural: 'datasetaccesses', namespace: 'team-a', name: 'imagenet' };
const readyStatus: DatasetAccessStatus = {
  observedGeneration: 1,
  store: 's3://datasets',
  sessionPolicy: '{"Version":"2012-10-17"}',
  packedPolicySize: 12,
  conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'ok', lastTransitionTime: '2026-12-05T00:00:00Z', observedGeneration: 1 }],
};

function seed(status?: Record<string, unknown>): DatasetAccess {
  const stored: Stored = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'DatasetAccess',
    metadata: { name: 'imagenet', namespace: 'team-a', uid: 'u-1', resourceVersion: '41', managedFields: [{ manager: 'x', fieldsV1: { big: 'y'.repeat(4000) } }] },
    spec: { prefix: 'imagenet/' },
    ...(status ? { status: structuredClone(status) } : {}),
  };
  objects.set(statusPath(ref).replace(/\/status$/, ''), stored);
  const { managedFields: _, ...metadata } = stored.metadata;
  return structuredClone({ ...stored, metadata }) as unknown as DatasetAccess;
}

const stored = () => objects.get(statusPath(ref).replace(/\/status$/, ''));

beforeEach(() => {
  objects.clear();
  requests.length = 0;
});

describe('writeStatus (PUT of /status with a small body, guarded by resourceVersion)', () => {
  it('replaces the whole status (fields gone from the new one are gone) and leaves the rest of the object alone', async () => {
    const access = seed(readyStatus as Record<string, unknown>);
    const next: DatasetAccessStatus = {
      observedGeneration: 2,
      conditions: [{ type: 'Ready', status: 'False', reason: 'StoreNotFound', message: 'no store', lastTransitionTime: '2026-12-05T00:01:00Z', observedGeneration: 2 }],
    };
    await writeAccessStatus(clients.customObjects, access, next);
    expect(stored()?.status).toEqual(next);
    expect(stored()?.metadata.resourceVersion).toBe('42');
    expect(access.status).toEqual(readyStatus);
    expect(stored()?.spec).toEqual({ prefix: 'imagenet/' });
    const [req] = requests;
    expect(req?.method).toBe('PUT');
    expect(req?.url).toBe('/apis/valet.dev/v1alpha1/namespaces/team-a/datasetaccesses/imagenet/status');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.authorization).toBe('Bearer not-a-secret');
    // The object named, the resourceVersion (and uid) read, the status: not the spec or the rest.
    expect(JSON.parse(req?.body ?? '')).toEqual({
      apiVersion: 'valet.dev/v1alpha1',
      kind: 'DatasetAccess',
      metadata: { name: 'imagenet', namespace: 'team-a', resourceVersion: '41', uid: 'u-1' },
      status: next,
    });
  });

  it('writes the first status of an object that has none', async () => {
    const access = seed();
    await writeAccessStatus(clients.customObjects, access, readyStatus);
    expect(stored()?.status).toEqual(readyStatus);
  });

  it('refuses a stale write: 409 from the server, passed to the caller, nothing written', async () => {
    const access = seed(readyStatus as Record<string, unknown>);
    await writeAccessStatus(clients.customObjects, access, { ...readyStatus, observedGeneration: 2 });
    // `access` is now stale (the server is at 42): a second write from it must not land.
    const err = await writeAccessStatus(clients.customObjects, access, { observedGeneration: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConflict(err)).toBe(true);
    expect((err as Error).message).toContain('the object has been modified');
    expect(stored()?.status).toEqual({ ...readyStatus, observedGeneration: 2 });
  });

  it('does not write at all without a resourceVersion to guard it', async () => {
    const access = seed(readyStatus as Record<string, unknown>);
    delete access.metadata.resourceVersion;
    await expect(writeAccessStatus(clients.customObjects, access, { observedGeneration: 9 })).rejects.toThrow(/without a resourceVersion/);
    expect(requests).toHaveLength(0);
  });

  it('uses the cluster path for cluster-scoped objects and reports a missing object as 404', async () => {
    const store = { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 's', resourceVersion: '9' } };
    const err = await writeStatus(clients.customObjects, { group: 'valet.dev', version: 'v1alpha1', plural: 'clusterdatasetstores', name: 's' }, store, {}).catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(404);
    expect(requests[0]?.url).toBe('/apis/valet.dev/v1alpha1/clusterdatasetstores/s/status');
  });
});
