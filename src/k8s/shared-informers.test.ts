import { describe, expect, it } from 'vitest';
import { stripForCache } from './shared-informers.ts';

describe('stripForCache', () => {
  it('drops managedFields and kubectl last-applied, and keeps every other field', () => {
    const obj = {
      metadata: {
        name: 'a',
        labels: { team: 'x' },
        managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }],
        annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":true}', 'valet.dev/note': 'kept' },
      },
      spec: { prefix: 'p/' },
    };
    stripForCache(obj);
    expect(obj).toEqual({ metadata: { name: 'a', labels: { team: 'x' }, annotations: { 'valet.dev/note': 'kept' } }, spec: { prefix: 'p/' } });
    const only = { metadata: { name: 'b', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } } };
    stripForCache(only);
    expect(only).toEqual({ metadata: { name: 'b' } });
  });
});
