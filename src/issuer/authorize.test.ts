import { describe, expect, it } from 'vitest';
import type { ClusterDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { overlappingClaimsIn } from '../policy/index.ts';
import { authorize } from './authorize.ts';
import { pod, readyAccess, store } from './testdata/fixtures.ts';

const s = store();
/** These stores keep their keys in team-a: the placement rule (ADR 0008) is not what these tests are about. */
const keysInTeamA = { valetNamespace: 'team-a' };
const resolve = (a: DatasetAccess) => (a.spec.storeRef.name === 'lab' ? s : undefined);

describe('authorize', () => {
  it('grants the Ready accesses whose subjects match, with the status policy', () => {
    const a = readyAccess('imagenet');
    const r = authorize(pod(), [a, readyAccess('other-sa', { subjects: { serviceAccounts: ['x'] } })], resolve);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.grants.map((g) => g.access.metadata.name)).toEqual(['imagenet']);
    expect(r.grants[0]?.policy).toBe(a.status?.sessionPolicy);
  });

  it('refuses with a reason per access: service account, labels, readiness', () => {
    const r = authorize(
      pod({ serviceAccount: 'other' }),
      [readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })],
      resolve,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('NoGrant');
    expect(r.error.httpStatus).toBe(403);
    expect(r.error.refusals).toContainEqual({ access: 'team-a/imagenet', reason: 'ServiceAccountNotIncluded', message: 'subjects do not include service account "other"' });

    const labels = authorize(pod(), [readyAccess('labelled', { subjects: { serviceAccounts: ['trainer'], podSelector: { matchLabels: { role: 'x' } } } })], resolve);
    expect(labels.ok ? undefined : labels.error.refusals).toEqual([{ access: 'team-a/labelled', reason: 'PodSelectorMismatch', message: "the pod's labels do not match spec.subjects.podSelector" }]);
    expect(authorize(pod({ labels: { role: 'x' } }), [readyAccess('labelled', { subjects: { serviceAccounts: ['trainer'], podSelector: { matchLabels: { role: 'x' } } } })], resolve).ok).toBe(true);
  });

  it('answers AccessNotReady when the pod is a subject but nothing is Ready', () => {
    const r = authorize(pod(), [readyAccess('coco', { prefix: 'coco/' }, { ready: false, reason: 'PrefixNotAllowed' })], resolve);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('AccessNotReady');
    expect(r.error.refusals).toEqual([{ access: 'team-a/coco', reason: 'NotReady', message: 'not Ready: PrefixNotAllowed' }]);
  });

  it('authorizes from the store spec, not the status: a store narrowed after the access was Ready refuses with StoreForbids', () => {
    const a = readyAccess('imagenet', { verbs: ['read', 'write'], sessionDurationSeconds: 3600 });
    expect(authorize(pod(), [a], resolve).ok).toBe(true);
    const narrowed: [string, ReturnType<typeof store>, string][] = [
      ['prefix', store({ allowedPrefixes: ['coco/'] }), 'PrefixNotAllowed'],
      ['verbs', store({ allowedVerbs: ['read', 'list'] }), 'VerbNotAllowed'],
      ['duration', store({ maxSessionDurationSeconds: 900 }), 'DurationTooLong'],
    ];
    for (const [what, narrow, reason] of narrowed) {
      const r = authorize(pod(), [a], () => narrow);
      expect(r.ok, what).toBe(false);
      if (r.ok) continue;
      expect(r.error.code, what).toBe('StoreForbidsGrant');
      expect(r.error.httpStatus, what).toBe(403);
      expect(r.error.retryAfterSeconds, what).toBeUndefined();
      expect(r.error.refusals, what).toEqual([{ access: 'team-a/imagenet', reason: 'StoreForbids', message: expect.stringContaining(reason) as string }]);
    }
    // One access the controller may still fix (a stale status) beside a forbidden one: not final yet.
    const stale = readyAccess('coco', { prefix: 'coco/' }, { generation: 2, statusGeneration: 1 });
    const mixed = authorize(pod(), [a, stale], () => store({ allowedVerbs: ['read'] }));
    expect(mixed.ok ? undefined : mixed.error.code).toBe('AccessNotReady');
  });

  it('fails closed on a stale status: older generation, changed store, or a policy that no longer renders the same', () => {
    const old = readyAccess('imagenet', {}, { generation: 3, statusGeneration: 2 });
    expect(authorize(pod(), [old], resolve)).toMatchObject({ ok: false, refusals: [{ reason: 'StaleStatus' }] });

    const moved = readyAccess('imagenet');
    const otherBucket = store({ bucket: 'elsewhere' });
    expect(authorize(pod(), [moved], () => otherBucket)).toMatchObject({ ok: false, refusals: [{ reason: 'StaleStatus' }] });

    const tampered = readyAccess('imagenet');
    if (tampered.status) tampered.status.sessionPolicy = tampered.status.sessionPolicy?.replace('imagenet/', '');
    expect(authorize(pod(), [tampered], resolve)).toMatchObject({ ok: false, refusals: [{ reason: 'StaleStatus' }] });

    expect(authorize(pod(), [readyAccess('imagenet')], () => undefined)).toMatchObject({ ok: false, refusals: [{ reason: 'StoreNotFound' }] });
  });

  it('only considers accesses of the pod namespace', () => {
    const r = authorize(pod({ namespace: 'team-b' }), [readyAccess('imagenet')], resolve);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('NoGrant');
  });

  it('honours the requested names: all must be granted; the rest are "not requested"', () => {
    const accesses = [readyAccess('imagenet'), readyAccess('coco', { prefix: 'coco/' })];
    const one = authorize(pod(), accesses, resolve, ['coco']);
    expect(one.ok && one.grants.map((g) => g.access.metadata.name)).toEqual(['coco']);
    expect(one.refusals).toEqual([{ access: 'team-a/imagenet', reason: 'NotRequested', message: 'not requested' }]);
    const missing = authorize(pod(), accesses, resolve, ['coco', 'nope']);
    expect(missing.ok).toBe(false);
    if (!missing.ok) {
      expect(missing.error.code).toBe('NoGrant');
      expect(missing.error.refusals[0]).toMatchObject({ access: 'team-a/nope', reason: 'NotFound' });
    }
  });

  it('refuses an azureBlob or gcs access whose status scope is not what its store gives now (fail closed)', () => {
    const az = store({ provider: 'azureBlob', bucket: undefined, region: undefined, endpoint: undefined, stsEndpoint: undefined, roleArn: undefined, auth: undefined, azureBlob: { accountName: 'acct', container: 'datasets', auth: { mode: 'accountKey', secretRef: { name: 'k' } } } });
    // Read only, so that the same access is valid on a gcs store too: the refusal below must be the
    // changed scope, not a verb gcs cannot grant.
    const a = readyAccess('imagenet', { verbs: ['read'] }, { store: az });
    expect(JSON.parse(a.status?.sessionPolicy ?? '{}')).toMatchObject({ provider: 'azureBlob', container: 'datasets', permissions: 'r' });
    expect(authorize(pod(), [a], () => az, undefined, undefined, keysInTeamA).ok).toBe(true);
    // The admin points the store at another container: yesterday's scope must not sign for it.
    const moved = { ...az, spec: { ...az.spec, azureBlob: { accountName: 'acct', container: 'other', auth: { mode: 'accountKey' as const, secretRef: { name: 'k' } } } } };
    const r = authorize(pod(), [a], () => moved, undefined, undefined, keysInTeamA);
    expect(r.ok ? undefined : r.error.refusals.map((x) => x.reason)).toEqual(['StaleStatus']);
    // Or turns it into a gcs store: the scope differs again.
    const gcs = { ...az, spec: { ...az.spec, provider: 'gcs' as const, azureBlob: undefined, allowedVerbs: ['read' as const], gcs: { bucket: 'b-1', auth: { mode: 'hmac' as const, secretRef: { name: 'k' } } } } };
    const asGcs = authorize(pod(), [a], () => gcs, undefined, undefined, keysInTeamA);
    expect(asGcs.ok ? undefined : asGcs.refusals.map((x) => [x.reason, x.message])).toEqual([['StaleStatus', expect.stringContaining('status.sessionPolicy differs')]]);
  });
});

describe('authorize: folder ownership on a cluster store (ADR 0009)', () => {
  const teams: ClusterDatasetStore = {
    apiVersion: 'valet.dev/v1alpha1',
    kind: 'ClusterDatasetStore',
    metadata: { name: 'teams', generation: 1 },
    spec: { ...(store().spec as Omit<ClusterDatasetStore['spec'], 'namespaceSelector'>), allowedPrefixes: ['teams/', 'public/'], sharedPrefixes: ['public/'], namespaceSelector: {} },
  };
  const onTeams = (name: string, namespace: string, prefix: string, created: string, storeName = 'teams'): DatasetAccess => {
    const a = readyAccess(name, { storeRef: { kind: 'ClusterDatasetStore', name: storeName }, prefix }, { store: teams });
    a.metadata = { ...a.metadata, namespace, creationTimestamp: created };
    return a;
  };
  const mine = onTeams('mine', 'team-a', 'teams/x/', '2026-01-02T00:00:00Z');
  const resolveTeams = (a: DatasetAccess) => (a.spec.storeRef.name === 'teams' ? teams : undefined);
  const anyLabels = () => ({});

  it('refuses a folder an older access of another namespace owns, asking the grant source only about that access', () => {
    const owner = onTeams('theirs', 'team-b', 'teams/', '2026-01-01T00:00:00Z');
    const asked: string[][] = [];
    const overlappingClaims = (s: string, prefix: string, ns: string) => (asked.push([s, prefix, ns]), overlappingClaimsIn([mine, owner], s, prefix, ns));
    const r = authorize(pod(), [mine], resolveTeams, ['mine'], anyLabels, { overlappingClaims });
    expect(r.ok).toBe(false);
    expect(r.refusals).toEqual([{ access: 'team-a/mine', reason: 'StoreForbids', message: expect.stringContaining('FolderClaimedByOtherNamespace') as string }]);
    expect(r.refusals[0]?.message).not.toContain('team-b');
    expect(asked).toEqual([['teams', 'teams/x/', 'team-a']]);
    // The same access with no one else's folder in the way is granted.
    expect(authorize(pod(), [mine], resolveTeams, ['mine'], anyLabels, { overlappingClaims: () => [] }).ok).toBe(true);
  });

  it('holds the rule itself: claims the source returns beyond the overlapping, older, other-namespace ones take no folder', () => {
    // Each of these is older than `mine`, and none may take its folder: a source answering more than
    // it was asked (a stale or coarse index) must not refuse a grant the full scan would give.
    const beyond = [
      onTeams('same-ns', 'team-a', 'teams/', '2026-01-01T00:00:00Z'),
      onTeams('other-store', 'team-b', 'teams/', '2026-01-01T00:00:00Z', 'elsewhere'),
      onTeams('sibling', 'team-b', 'teams/y/', '2026-01-01T00:00:00Z'),
      onTeams('outside-allowed', 'team-b', 'other/', '2026-01-01T00:00:00Z'),
    ];
    expect(authorize(pod(), [mine], resolveTeams, ['mine'], anyLabels, { overlappingClaims: () => beyond }).ok).toBe(true);
    // A younger claim does not own it either; an older one does, whichever way round they nest.
    expect(authorize(pod(), [mine], resolveTeams, ['mine'], anyLabels, { overlappingClaims: () => [onTeams('younger', 'team-b', 'teams/', '2026-01-03T00:00:00Z')] }).ok).toBe(true);
    expect(authorize(pod(), [mine], resolveTeams, ['mine'], anyLabels, { overlappingClaims: () => [onTeams('inside', 'team-b', 'teams/x/deep/', '2026-01-01T00:00:00Z')] }).ok).toBe(false);
    // Inside sharedPrefixes, an older claim of another namespace shares the folder.
    const pub = onTeams('pub', 'team-a', 'public/coco/', '2026-01-02T00:00:00Z');
    expect(authorize(pod(), [pub], resolveTeams, ['pub'], anyLabels, { overlappingClaims: () => [onTeams('pub-b', 'team-b', 'public/', '2026-01-01T00:00:00Z')] }).ok).toBe(true);
  });
});
