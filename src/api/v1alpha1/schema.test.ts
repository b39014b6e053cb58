// The CRDs in crds/ and the TypeScript in this folder describe the same API. These tests read the
// CRD YAML and hold the field trees (fields.ts), names, limits and patterns (constants.ts) to it,
// and check the API-convention rules every schema must keep (bounds everywhere, messages that name
// the field).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONDITION_TYPES, GROUP, KINDS, LIMITS, PATTERNS, PLURALS, VERSION } from './constants.ts';
import type { Kind } from './constants.ts';
import { FIELDS, fieldPaths } from './fields.ts';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  maxProperties?: number;
  format?: string;
  default?: unknown;
  'x-kubernetes-validations'?: { rule: string; message?: string; fieldPath?: string }[];
}

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: { name: string; jsonPath: string }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

function loadCrd(kind: Kind): Crd {
  const file = fileURLToPath(new URL(`../../../crds/${GROUP}_${PLURALS[kind]}.yaml`, import.meta.url));
  return parse(readFileSync(file, 'utf8')) as Crd;
}

const root = (kind: Kind): Schema => {
  const version = loadCrd(kind).spec.versions[0];
  if (!version) throw new Error(`${kind}: no versions`);
  return version.schema.openAPIV3Schema;
};

/** Dotted paths of a schema's leaves; lists of objects and nested objects are walked through. */
function schemaPaths(schema: Schema, base = ''): string[] {
  const node = schema.type === 'array' && schema.items ? schema.items : schema;
  if (node.type !== 'object' || !node.properties) return [base];
  return Object.entries(node.properties).flatMap(([k, s]) => schemaPaths(s, base ? `${base}.${k}` : k));
}

/** Every node of a schema with its path ("spec.verbs[]"). */
function walk(schema: Schema, path: string, visit: (s: Schema, path: string) => void): void {
  visit(schema, path);
  for (const [k, s] of Object.entries(schema.properties ?? {})) walk(s, `${path}.${k}`, visit);
  if (schema.items) walk(schema.items, `${path}[]`, visit);
  if (typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${path}{}`, visit);
}

const kinds = Object.values(KINDS);
const prop = (s: Schema, ...path: string[]): Schema => {
  let node = s;
  for (const p of path) {
    const next = p === '[]' ? node.items : node.properties?.[p];
    if (!next) throw new Error(`no schema at ${path.join('.')}`);
    node = next;
  }
  return node;
};

describe.each(kinds)('the %s CRD', (kind) => {
  const crd = loadCrd(kind);
  const schema = root(kind);

  it('is served and stored as valet.dev/v1alpha1 with a status subresource', () => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.metadata.name).toBe(`${PLURALS[kind]}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(crd.spec.names.kind).toBe(kind);
    expect(crd.spec.names.plural).toBe(PLURALS[kind]);
    expect(crd.spec.names.categories).toEqual(['valet']);
    expect(crd.spec.scope).toBe(kind === 'ClusterDatasetStore' ? 'Cluster' : 'Namespaced');
    expect(crd.spec.versions).toHaveLength(1);
    expect(crd.spec.versions[0]).toMatchObject({ name: VERSION, served: true, storage: true, subresources: { status: {} } });
    expect(crd.spec.names.shortNames).toEqual([{ ClusterDatasetStore: 'cdss', DatasetStore: 'dss', DatasetAccess: 'dsa' }[kind]]);
  });

  it('has exactly the spec fields the TypeScript types declare', () => {
    expect(schemaPaths(prop(schema, 'spec')).sort()).toEqual(fieldPaths(FIELDS[kind].spec));
  });

  it('has exactly the status fields the TypeScript types declare', () => {
    expect(schemaPaths(prop(schema, 'status')).sort()).toEqual(fieldPaths(FIELDS[kind].status));
  });

  it('has only apiVersion, kind, metadata, spec and status at the top', () => {
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  });

  it('bounds every string, number, list and map below spec and status (CEL cost estimation)', () => {
    const unbounded: string[] = [];
    for (const top of ['spec', 'status']) {
      walk(prop(schema, top), top, (s, path) => {
        if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined) unbounded.push(`${path}: maxLength`);
        if (s.type === 'integer' && (s.minimum === undefined || s.maximum === undefined)) unbounded.push(`${path}: minimum/maximum`);
        if (s.type === 'array' && s.maxItems === undefined) unbounded.push(`${path}: maxItems`);
        if (s.type === 'object' && s.additionalProperties && s.maxProperties === undefined) unbounded.push(`${path}: maxProperties`);
        if (s.type === 'integer' && !s.format) unbounded.push(`${path}: format`);
      });
    }
    expect(unbounded).toEqual([]);
  });

  it('gives every CEL rule a message that names its field', () => {
    const rules: { path: string; message: string | undefined }[] = [];
    walk(schema, '', (s, path) => {
      for (const v of s['x-kubernetes-validations'] ?? []) rules.push({ path, message: v.message });
    });
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(r.message, r.path).toMatch(/\bspec\.[A-Za-z]/);
  });

  it('uses the standard metav1.Condition schema, keyed by type', () => {
    const conditions = prop(schema, 'status', 'conditions') as Schema & Record<string, unknown>;
    expect(conditions['x-kubernetes-list-type']).toBe('map');
    expect(conditions['x-kubernetes-list-map-keys']).toEqual(['type']);
    expect(conditions.items?.required).toEqual(['type', 'status', 'lastTransitionTime', 'reason', 'message']);
    expect(prop(conditions, '[]', 'status').enum).toEqual(['True', 'False', 'Unknown']);
  });

  it('shows readiness in kubectl get', () => {
    const columns = crd.spec.versions[0]?.additionalPrinterColumns?.map((c) => c.name) ?? [];
    const expected = kind === 'DatasetAccess' ? ['Store', 'Prefix', 'Verbs', 'Ready', 'Reason', 'Age'] : ['Bucket', 'Endpoint', 'Ready', 'Age'];
    expect(columns).toEqual(expect.arrayContaining(expected));
    const ready = crd.spec.versions[0]?.additionalPrinterColumns?.find((c) => c.name === 'Ready');
    expect(ready?.jsonPath).toBe(`.status.conditions[?(@.type=="${CONDITION_TYPES.Ready}")].status`);
  });
});

describe('limits and patterns shared with src/policy', () => {
  const access = prop(root('DatasetAccess'), 'spec');
  const stores = [prop(root('DatasetStore'), 'spec'), prop(root('ClusterDatasetStore'), 'spec')];

  it('prefix rules are the same in both CRDs and in constants.ts', () => {
    const [nsStore, clusterStore] = stores as [typeof access, typeof access];
    const folders = [prop(access, 'prefix'), prop(nsStore, 'allowedPrefixes', '[]'), prop(clusterStore, 'allowedPrefixes', '[]'), prop(clusterStore, 'sharedPrefixes', '[]')];
    expect(folders.map((p) => p.pattern)).toEqual([PATTERNS.prefix, PATTERNS.prefix, PATTERNS.clusterAllowedPrefix, PATTERNS.prefix]);
    for (const p of folders) {
      expect(p.minLength).toBe(LIMITS.minPrefixLength);
      expect(p.maxLength).toBe(LIMITS.maxPrefixLength);
      expect(p['x-kubernetes-validations']?.[0]?.rule).toBe("!self.split('/').exists(s, s == '.' || s == '..')");
    }
    for (const s of stores) expect(prop(s, 'allowedPrefixes').maxItems).toBe(LIMITS.maxAllowedPrefixes);
  });

  it('durations agree with LIMITS', () => {
    expect(prop(access, 'sessionDurationSeconds')).toMatchObject({
      minimum: LIMITS.minSessionDurationSeconds,
      maximum: LIMITS.maxSessionDurationSeconds,
      default: LIMITS.defaultSessionDurationSeconds,
    });
    expect(prop(access, 'presign', 'maxExpirySeconds')).toMatchObject({
      minimum: LIMITS.minPresignExpirySeconds,
      maximum: LIMITS.maxPresignExpirySeconds,
    });
    expect(prop(access, 'subjects', 'serviceAccounts').maxItems).toBe(LIMITS.maxServiceAccounts);
    for (const s of stores) {
      expect(prop(s, 'maxSessionDurationSeconds')).toMatchObject({
        minimum: LIMITS.minSessionDurationSeconds,
        maximum: LIMITS.maxSessionDurationSeconds,
      });
    }
  });

  it('store fields use the shared patterns', () => {
    for (const s of stores) {
      expect(prop(s, 'bucket').pattern).toBe(PATTERNS.bucket);
      expect(prop(s, 'region').pattern).toBe(PATTERNS.region);
      expect(prop(s, 'endpoint').pattern).toBe(PATTERNS.url);
      expect(prop(s, 'stsEndpoint').pattern).toBe(PATTERNS.url);
      expect(prop(s, 'roleArn').pattern).toBe(PATTERNS.roleArn);
      expect(prop(s, 'externalId').pattern).toBe(PATTERNS.externalId);
      expect(prop(s, 'auth', 'secretRef', 'name').pattern).toBe(PATTERNS.dnsSubdomain);
    }
    expect(prop(access, 'storeRef', 'name').pattern).toBe(PATTERNS.dnsSubdomain);
    expect(prop(access, 'subjects', 'serviceAccounts', '[]').pattern).toBe(PATTERNS.dnsSubdomain);
    expect(prop(stores[1] ?? {}, 'auth', 'secretRef', 'namespace').pattern).toBe(PATTERNS.dnsLabel);
  });

  it('the two store CRDs differ only by namespaceSelector, sharedPrefixes and the secret namespaces', () => {
    const [ns, cluster] = stores.map((s) => schemaPaths(s).sort());
    const extra = (cluster ?? []).filter((p) => !(ns ?? []).includes(p));
    const secretNamespaces = ['auth.secretRef.namespace', 'azureBlob.auth.secretRef.namespace', 'gcs.auth.secretRef.namespace'];
    expect(extra.filter((p) => !p.startsWith('namespaceSelector.') && p !== 'sharedPrefixes' && !secretNamespaces.includes(p))).toEqual([]);
    expect(secretNamespaces.every((p) => extra.includes(p))).toBe(true);
    expect((ns ?? []).filter((p) => !(cluster ?? []).includes(p))).toEqual([]);
  });

  it('every pattern is a valid ECMAScript regular expression', () => {
    for (const p of Object.values(PATTERNS)) expect(() => new RegExp(p)).not.toThrow();
  });
});
