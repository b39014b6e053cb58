import { describe, expect, it } from 'vitest';
import { access } from './testdata/fixtures.ts';
import { subjectsMatch } from './subjects.ts';

describe('subjectsMatch', () => {
  const a = access({ subjects: { serviceAccounts: ['trainer', 'eval'], podSelector: { matchLabels: { app: 'trainer' } } } });

  it('grants a pod of a listed service account whose labels match', () => {
    expect(subjectsMatch(a, { namespace: 'ml-team', serviceAccountName: 'eval', labels: { app: 'trainer' } })).toEqual({ ok: true });
  });

  it('refuses an unlisted service account, naming it', () => {
    expect(subjectsMatch(a, { namespace: 'ml-team', serviceAccountName: 'default', labels: { app: 'trainer' } })).toEqual({
      ok: false,
      reason: 'ServiceAccountNotIncluded',
      message: 'spec.subjects.serviceAccounts of DatasetAccess "ml-team/imagenet-read" does not include service account "default"',
    });
  });

  it('refuses a pod whose labels do not match the pod selector', () => {
    expect(subjectsMatch(a, { namespace: 'ml-team', serviceAccountName: 'trainer', labels: { app: 'web' } })).toMatchObject({ ok: false, reason: 'PodSelectorMismatch' });
    expect(subjectsMatch(a, { namespace: 'ml-team', serviceAccountName: 'trainer' })).toMatchObject({ ok: false, reason: 'PodSelectorMismatch' });
  });

  it('refuses a pod from another namespace, even with a listed service account', () => {
    expect(subjectsMatch(a, { namespace: 'other', serviceAccountName: 'trainer', labels: { app: 'trainer' } })).toMatchObject({ ok: false, reason: 'NamespaceMismatch' });
  });

  it('without a pod selector, the service account alone decides', () => {
    expect(subjectsMatch(access(), { namespace: 'ml-team', serviceAccountName: 'trainer' })).toEqual({ ok: true });
  });
});
