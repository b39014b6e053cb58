// The examples in examples/ are valid against the CRD schemas (checked here offline with the
// structural subset of OpenAPI the API server applies; the lab test applies them to a real
// kube-apiserver) and, taken together, every DatasetAccess among them is Ready.
import { PROVIDER_REGISTRY } from '../providers/index.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { GROUP, PLURALS, PROVIDER_VERBS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess, Kind, Provider } from '../api/v1alpha1/index.ts';
import { checkPrefix } from './prefix.ts';
import { renderGrant } from './grant.ts';
import { validateAccess } from './validate.ts';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-list-type'?: string;
}

/** Structural OpenAPI checks (no CEL, no formats); returns "path: problem" lines. */
function check(schema: Schema, value: unknown, path: string): string[] {
  const errors: string[] = [];
  const err = (m: string) => errors.push(`${path}: ${m}`);
  if (schema.enum && !schema.enum.includes(value)) err(`${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
      const obj = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in obj)) err(`missing required ${r}`);
      if (schema.maxProperties !== undefined && Object.keys(obj).length > schema.maxProperties) err('too many properties');
      for (const [k, v] of Object.entries(obj)) {
        const sub = schema.properties?.[k] ?? schema.additionalProperties;
        if (!sub) err(`unknown field ${k}`);
        else errors.push(...check(sub, v, `${path}.${k}`));
      }
      break;
    }
    case 'array': {
      if (!Array.isArray(value)) return [`${path}: not a list`];
      if (schema.minItems !== undefined && value.length < schema.minItems) err(`fewer than ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) err(`more than ${schema.maxItems} items`);
      if (schema['x-kubernetes-list-type'] === 'set' && new Set(value).size !== value.length) err('duplicate items in a set');
      value.forEach((v, i) => schema.items && errors.push(...check(schema.items, v, `${path}[${i}]`)));
      break;
    }
    case 'string':
      if (typeof value !== 'string') return [`${path}: not a string`];
      if (schema.minLength !== undefined && value.length < schema.minLength) err('too short');
      if (schema.maxLength !== undefined && value.length > schema.maxLength) err('too long');
      if (schema.pattern && !new RegExp(schema.pattern).test(value)) err(`does not match ${schema.pattern}`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) return [`${path}: not an integer`];
      if (schema.minimum !== undefined && (value as number) < schema.minimum) err('below minimum');
      if (schema.maximum !== undefined && (value as number) > schema.maximum) err('above maximum');
      break;
    case 'boolean':
      if (typeof value !== 'boolean') err('not a boolean');
      break;
  }
  return errors;
}

function crdSchema(kind: Kind): Schema {
  const crd = readFileSync(new URL(`../../crds/${GROUP}_${PLURALS[kind]}.yaml`, import.meta.url), 'utf8');
  const doc = parseAllDocuments(crd)[0]?.toJS() as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
  const schema = doc.spec.versions[0]?.schema.openAPIV3Schema;
  if (!schema) throw new Error(`no schema for ${kind}`);
  return schema;
}

const examplesDir = new URL('../../examples/', import.meta.url);
const objects = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(new URL(f, examplesDir), 'utf8')).map((d) => ({ file: f, obj: d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec: Record<string, unknown> } })));
const valet = objects.filter((o) => o.obj.apiVersion === `${GROUP}/v1alpha1`);

describe('examples/', () => {
  it('has the stores and accesses the docs promise', () => {
    const kinds = valet.map((o) => o.obj.kind);
    expect(kinds).toEqual(expect.arrayContaining(['ClusterDatasetStore', 'DatasetStore', 'DatasetAccess']));
    expect(kinds.filter((k) => k === 'DatasetAccess').length).toBeGreaterThanOrEqual(2);
  });

  it.each(valet.map((o) => [o.file, o.obj] as const))('%s matches its CRD schema', (_file, obj) => {
    const { metadata: _metadata, ...rest } = obj;
    expect(check(crdSchema(obj.kind as Kind), rest, obj.kind)).toEqual([]);
  });

  it.each(valet.map((o) => [o.file, o.obj] as const))('%s passes the CRD CEL rules (as the pure checks state them)', (_file, obj) => {
    const spec = obj.spec;
    if (obj.kind === 'DatasetAccess') {
      expect(checkPrefix(spec.prefix as string)).toEqual({ ok: true });
      const presign = spec.presign as { maxExpirySeconds?: number } | undefined;
      expect(presign?.maxExpirySeconds ?? 0).toBeLessThanOrEqual((spec.sessionDurationSeconds as number | undefined) ?? 3600);
    } else {
      for (const p of spec.allowedPrefixes as string[]) expect(checkPrefix(p)).toEqual({ ok: true });
      const auth = spec.auth as { mode?: string; secretRef?: unknown } | undefined;
      expect((auth?.mode ?? 'defaultChain') === 'secret').toBe(auth?.secretRef !== undefined);
    }
  });

  it('has a store, and an access on it, for every provider', () => {
    const stores = valet.filter((o) => o.obj.kind !== 'DatasetAccess').map((o) => o.obj);
    expect(new Set(stores.map((s) => s.spec.provider))).toEqual(new Set(['s3', 'azureBlob', 'gcs']));
    const used = valet
      .filter((o) => o.obj.kind === 'DatasetAccess')
      .map((o) => (o.obj.spec as unknown as DatasetAccess['spec']).storeRef)
      .map((ref) => stores.find((s) => s.kind === ref.kind && s.metadata.name === ref.name)?.spec.provider);
    expect(new Set(used)).toEqual(new Set(['s3', 'azureBlob', 'gcs']));
  });

  it.each(valet.filter((o) => o.obj.kind !== 'DatasetAccess').map((o) => [o.file, o.obj] as const))('%s passes the CRD provider rules (as the CEL rules on spec state them)', (_file, obj) => {
    const spec = obj.spec as { provider?: Provider; azureBlob?: { container: string }; gcs?: unknown; allowedVerbs: string[] } & Record<string, unknown>;
    const provider = spec.provider ?? 's3';
    const s3Fields = ['bucket', 'region', 'roleArn', 'endpoint', 'stsEndpoint', 'externalId'].filter((f) => f in spec);
    if (provider === 's3') expect(s3Fields).toEqual(expect.arrayContaining(['bucket', 'region', 'roleArn']));
    else {
      expect(s3Fields).toEqual([]);
      expect(spec.sessionTags ?? false).toBe(false);
      expect((spec.auth as { mode?: string } | undefined)?.mode ?? 'defaultChain').toBe('defaultChain');
    }
    expect('azureBlob' in spec).toBe(provider === 'azureBlob');
    expect('gcs' in spec).toBe(provider === 'gcs');
    if (spec.azureBlob) expect(spec.azureBlob.container).not.toContain('--');
    for (const v of spec.allowedVerbs) expect(PROVIDER_VERBS[provider]).toContain(v);
  });

  it('every example DatasetAccess is Ready against the example stores and namespace', () => {
    // The API server labels every namespace with its name.
    const namespaces = new Map(objects.filter((o) => o.obj.kind === 'Namespace').map((o) => [o.obj.metadata.name, { 'kubernetes.io/metadata.name': o.obj.metadata.name, ...o.obj.metadata.labels }]));
    const stores = valet.filter((o) => o.obj.kind !== 'DatasetAccess').map((o) => o.obj as unknown as AnyDatasetStore);
    for (const { obj } of valet.filter((o) => o.obj.kind === 'DatasetAccess')) {
      const a = obj as unknown as DatasetAccess;
      const store = stores.find(
        (s) => s.kind === a.spec.storeRef.kind && s.metadata.name === a.spec.storeRef.name && (s.kind === 'ClusterDatasetStore' || s.metadata.namespace === a.metadata.namespace),
      );
      const v = validateAccess(a, store, namespaces.get(a.metadata.namespace ?? ''), { providers: PROVIDER_REGISTRY });
      expect(v.conditions.filter((c) => c.status !== 'True'), a.metadata.name).toEqual([]);
    }
  });

  it('the read-only imagenet example renders the read-list golden policy', () => {
    const a = valet.find((o) => o.obj.metadata.name === 'imagenet-read')?.obj as unknown as DatasetAccess;
    const s = valet.find((o) => o.obj.metadata.name === 'minio')?.obj as unknown as AnyDatasetStore;
    const golden = JSON.parse(readFileSync(new URL('./testdata/read-list-imagenet.json', import.meta.url), 'utf8')) as { expected: { policy: unknown } };
    const r = renderGrant(s, a, PROVIDER_REGISTRY);
    expect(r.ok && r.policy).toBe(JSON.stringify(golden.expected.policy));
  });

  it('the Azure example renders the per-blob SAS scope: r for read, list served by the issuer, https only', () => {
    const a = valet.find((o) => o.obj.metadata.name === 'scans-read')?.obj as unknown as DatasetAccess;
    const s = valet.find((o) => o.obj.metadata.name === 'team-azure')?.obj as unknown as AnyDatasetStore;
    expect(a.spec.storeRef).toEqual({ kind: 'ClusterDatasetStore', name: 'team-azure' });
    expect(validateAccess(a, s, { 'kubernetes.io/metadata.name': 'ml-team' }, { providers: PROVIDER_REGISTRY }).ready).toBe(true);
    const r = renderGrant(s, a, PROVIDER_REGISTRY);
    expect(r.ok && JSON.parse(r.policy)).toEqual({
      provider: 'azureBlob',
      resource: 'blob',
      account: 'mlteamdatasets',
      container: 'datasets',
      prefix: 'scans/',
      permissions: 'r',
      list: true,
      protocol: 'https',
    });
  });

  it('the GCS example renders the V4 signed-URL scope: GET, HEAD and PUT, signed with the HMAC key', () => {
    const a = valet.find((o) => o.obj.metadata.name === 'features-readwrite')?.obj as unknown as DatasetAccess;
    const s = valet.find((o) => o.obj.kind === 'ClusterDatasetStore' && o.obj.metadata.name === 'gcs')?.obj as unknown as AnyDatasetStore;
    expect(a.spec.storeRef).toEqual({ kind: 'ClusterDatasetStore', name: 'gcs' });
    const labels = objects.find((o) => o.obj.kind === 'Namespace' && o.obj.metadata.name === a.metadata.namespace)?.obj.metadata.labels;
    expect(validateAccess(a, s, labels, { providers: PROVIDER_REGISTRY }).ready).toBe(true);
    const r = renderGrant(s, a, PROVIDER_REGISTRY);
    expect(r.ok && JSON.parse(r.policy)).toEqual({
      provider: 'gcs',
      bucket: 'ml-shared-features',
      prefix: 'features/',
      methods: ['GET', 'HEAD', 'PUT'],
      algorithm: 'GOOG4-HMAC-SHA256',
      host: 'storage.googleapis.com',
    });
  });
});
