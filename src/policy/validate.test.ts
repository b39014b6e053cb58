import { describe, expect, it } from 'vitest';
import { PROVIDER_REGISTRY } from '../providers/index.ts';
import { CONDITION_TYPES, REASONS } from '../api/v1alpha1/index.ts';
import { access, clusterStore, namespacedStore, selectedNamespace } from './testdata/fixtures.ts';
import { validateAccess } from './validate.ts';
import type { AccessValidation } from './validate.ts';

const condition = (v: AccessValidation, type: string) => v.conditions.find((c) => c.type === type);
const ready = (v: AccessValidation) => condition(v, CONDITION_TYPES.Ready);

describe('validateAccess', () => {
  it('a valid access is Ready, with every condition True, the store and the policy', () => {
    const v = validateAccess(access(), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(v.ready).toBe(true);
    expect(v.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'Valid'],
      ['StoreResolved', 'True', 'Valid'],
      ['PrefixAllowed', 'True', 'Valid'],
      ['VerbsAllowed', 'True', 'Valid'],
      ['DurationAllowed', 'True', 'Valid'],
      ['PolicyRendered', 'True', 'Valid'],
    ]);
    expect(v.store).toBe('ClusterDatasetStore/minio');
    expect(v.policy).toContain('arn:aws:s3:::datasets/imagenet/*');
    expect(v.packedSize).toBe(v.policy?.length);
  });

  it('a missing store: StoreNotFound, the rest Unknown, no policy', () => {
    const v = validateAccess(access(), undefined, selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(v.ready).toBe(false);
    expect(ready(v)).toMatchObject({ status: 'False', reason: REASONS.StoreNotFound, message: 'spec.storeRef: ClusterDatasetStore "minio" not found' });
    for (const t of ['PrefixAllowed', 'VerbsAllowed', 'DurationAllowed', 'PolicyRendered']) {
      expect(condition(v, t)).toMatchObject({ status: 'Unknown', reason: REASONS.StoreNotResolved });
    }
    expect(v.policy).toBeUndefined();
    expect(v.store).toBeUndefined();
  });

  it('a store of another kind or name is not the referenced store', () => {
    const v = validateAccess(access({ storeRef: { kind: 'DatasetStore', name: 'minio' } }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({ reason: REASONS.StoreNotFound, message: 'spec.storeRef: DatasetStore "minio" not found in namespace "ml-team"' });
  });

  it('a DatasetStore in another namespace is refused', () => {
    const v = validateAccess(access({ storeRef: { kind: 'DatasetStore', name: 'team' } }), namespacedStore({}, 'other'), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({ reason: REASONS.StoreInOtherNamespace });
    expect(ready(v)?.message).toContain('"other"');
  });

  it('a DatasetStore in the same namespace resolves without a namespace selector', () => {
    const v = validateAccess(access({ storeRef: { kind: 'DatasetStore', name: 'team' }, prefix: 'checkpoints/run-1/', verbs: ['write'] }), namespacedStore(), undefined, { providers: PROVIDER_REGISTRY });
    expect(v.ready).toBe(true);
    expect(v.store).toBe('DatasetStore/team');
  });

  it('a namespace the cluster store does not select: NamespaceNotSelected', () => {
    for (const labels of [{ 'kubernetes.io/metadata.name': 'ml-team' }, undefined]) {
      const v = validateAccess(access(), clusterStore(), labels, { providers: PROVIDER_REGISTRY });
      expect(ready(v)).toMatchObject({
        status: 'False',
        reason: REASONS.NamespaceNotSelected,
        message: 'spec.storeRef: namespace "ml-team" is not selected by the spec.namespaceSelector of ClusterDatasetStore "minio"',
      });
    }
  });

  it('an empty namespace selector selects every namespace', () => {
    expect(validateAccess(access(), clusterStore({ namespaceSelector: {} }), {}, { providers: PROVIDER_REGISTRY }).ready).toBe(true);
  });

  it('a prefix outside the allowed folders: PrefixNotAllowed, naming both', () => {
    const v = validateAccess(access({ prefix: 'imagenet-private/' }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({
      reason: REASONS.PrefixNotAllowed,
      message: 'spec.prefix "imagenet-private/" is not inside any of the store\'s allowedPrefixes ["imagenet/", "coco/"]',
    });
    expect(v.policy).toBeUndefined();
  });

  it('an invalid prefix is reported even while the store is missing', () => {
    const v = validateAccess(access({ prefix: '../x/' }), undefined, selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(condition(v, 'PrefixAllowed')).toMatchObject({ status: 'False', reason: REASONS.PrefixInvalid });
  });

  it('a verb the store does not allow: VerbNotAllowed, naming the verb', () => {
    const v = validateAccess(access({ verbs: ['read', 'write', 'delete'] }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({
      reason: REASONS.VerbNotAllowed,
      message: 'spec.verbs ["write", "delete"] not in the store\'s allowedVerbs ["read", "list"]',
    });
  });

  it('a session longer than the store allows: DurationTooLong', () => {
    const v = validateAccess(access({ sessionDurationSeconds: 7200 }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({
      reason: REASONS.DurationTooLong,
      message: "spec.sessionDurationSeconds 7200 exceeds the store's maxSessionDurationSeconds 3600",
    });
  });

  it('presigned URLs may not outlive the session', () => {
    const v = validateAccess(access({ presign: { enabled: true, maxExpirySeconds: 4000 } }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({ reason: REASONS.PresignExpiryTooLong, message: 'spec.presign.maxExpirySeconds 4000 exceeds spec.sessionDurationSeconds 3600' });
  });

  it('the session duration defaults to 3600 and out-of-range values are refused', () => {
    const spec = access().spec;
    delete spec.sessionDurationSeconds;
    expect(validateAccess({ ...access(), spec }, clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY }).ready).toBe(true);
    expect(ready(validateAccess(access({ sessionDurationSeconds: 60 }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY }))).toMatchObject({ reason: REASONS.DurationInvalid });
  });

  it('a policy over the STS limit: PolicyTooLarge, with its size, and no policy', () => {
    const prefix = `${'imagenet/'}${'x'.repeat(990)}/`;
    const v = validateAccess(access({ prefix }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(ready(v)).toMatchObject({ status: 'False', reason: REASONS.PolicyTooLarge });
    expect(v.packedSize).toBeGreaterThan(2048);
    expect(v.policy).toBeUndefined();
  });

  it('reports every failure, and Ready carries the first', () => {
    const v = validateAccess(access({ prefix: 'other/', verbs: ['write'], sessionDurationSeconds: 7200 }), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY });
    expect(v.conditions.filter((c) => c.status === 'False').map((c) => c.reason)).toEqual([
      REASONS.PrefixNotAllowed, // Ready
      REASONS.PrefixNotAllowed,
      REASONS.VerbNotAllowed,
      REASONS.DurationTooLong,
    ]);
  });

  it('is deterministic: the same input gives equal results', () => {
    expect(validateAccess(access(), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY })).toEqual(validateAccess(access(), clusterStore(), selectedNamespace, { providers: PROVIDER_REGISTRY }));
  });

  it('never puts the store secret reference in a message', () => {
    const store = clusterStore({ auth: { mode: 'secret', secretRef: { name: 'super-secret-name', namespace: 'vault' } } });
    for (const a of [access(), access({ prefix: 'x/' }), access({ verbs: ['delete'] })]) {
      const text = JSON.stringify(validateAccess(a, store, selectedNamespace, { providers: PROVIDER_REGISTRY }));
      expect(text).not.toContain('super-secret-name');
    }
  });
});
