// `valet policy -f store.yaml -f access.yaml [--namespace-labels k=v,...]`: what a DatasetAccess
// would be granted, rendered offline, or every reason it would be refused. For an s3 store that is
// the STS session policy; for azureBlob and gcs it is the scope the issuer signs URLs within (a
// per-blob SAS, a V4 signed URL), summed up per verb and followed by the JSON the controller
// writes to status.sessionPolicy.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS, LIMITS, PROVIDERS, VERBS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess, Verb } from '../api/v1alpha1/index.ts';
import { validateAccess } from '../policy/index.ts';
import { PROVIDER_REGISTRY, providerOf } from '../providers/index.ts';
import { POLICY_COMMAND } from '../config/policy.ts';
import { configOrExit } from './usage.ts';

/**
 * A store as the API server would hold it: the CRD's defaults applied (provider s3, a maximum
 * session of an hour), so a file written before spec.provider existed renders as it would apply.
 * A message instead when the store is not one the API server would accept this far.
 */
function withDefaults(store: AnyDatasetStore): AnyDatasetStore | string {
  if (!store.metadata?.name) return `a ${store.kind} without metadata.name`;
  const named = `${store.kind} '${store.metadata.name}'`;
  const spec = (store.spec ?? {}) as Partial<AnyDatasetStore['spec']>;
  const provider = spec.provider ?? 's3';
  if (!(PROVIDERS as readonly string[]).includes(provider)) return `${named}: spec.provider '${String(provider)}' is not one of ${PROVIDERS.join(', ')}`;
  if (!Array.isArray(spec.allowedPrefixes) || !Array.isArray(spec.allowedVerbs)) return `${named}: spec.allowedPrefixes and spec.allowedVerbs must be lists`;
  const defaulted = { ...spec, provider, maxSessionDurationSeconds: spec.maxSessionDurationSeconds ?? LIMITS.defaultSessionDurationSeconds };
  const metadata = store.kind === KINDS.DatasetStore ? { ...store.metadata, namespace: store.metadata.namespace ?? 'default' } : store.metadata;
  return { ...store, metadata, spec: defaulted } as AnyDatasetStore;
}

/** The verbs of an access, deduplicated, in canonical order. */
const granted = (verbs: readonly string[]): Verb[] => VERBS.filter((v) => verbs.includes(v));

export function policyCommand(argv: readonly string[], write: (s: string) => void, writeErr: (s: string) => void): number {
  const parsed = configOrExit(POLICY_COMMAND, argv, {}, write, writeErr);
  if ('exit' in parsed) return parsed.exit;
  const args = parsed.config;
  const objects: { kind?: string; metadata?: { name?: string; namespace?: string } }[] = [];
  const files = args.files.flatMap((f) => {
    try {
      return statSync(f).isDirectory() ? readdirSync(f).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(f, n)) : [f];
    } catch {
      return [f];
    }
  });
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      writeErr(`valet policy: cannot read ${file}: ${(err as Error).message}\n`);
      return 2;
    }
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        writeErr(`valet policy: ${file} is not valid YAML: ${doc.errors[0]?.message}\n`);
        return 2;
      }
      const o = doc.toJS() as (typeof objects)[number] | null;
      if (o && typeof o === 'object') objects.push(o);
    }
  }
  const stores: AnyDatasetStore[] = [];
  for (const o of objects.filter((o) => o.kind === KINDS.DatasetStore || o.kind === KINDS.ClusterDatasetStore) as AnyDatasetStore[]) {
    const s = withDefaults(o);
    if (typeof s === 'string') {
      writeErr(`valet policy: ${s}\n`);
      return 2;
    }
    stores.push(s);
  }
  const accesses = (objects.filter((o) => o.kind === KINDS.DatasetAccess) as DatasetAccess[]).filter((a) => !args.access || a.metadata.name === args.access);
  if (accesses.length === 0) {
    writeErr('valet policy: no DatasetAccess in the files' + (args.access ? ` named '${args.access}'` : '') + '\n');
    return 2;
  }
  let failed = false;
  for (const access of accesses) {
    if (!access.spec?.storeRef || !access.metadata?.name) {
      writeErr(`valet policy: a DatasetAccess without metadata.name or spec.storeRef\n`);
      return 2;
    }
    if (!Array.isArray(access.spec.verbs) || typeof access.spec.prefix !== 'string') {
      writeErr(`valet policy: DatasetAccess '${access.metadata.name}': spec.prefix must be a string and spec.verbs a list\n`);
      return 2;
    }
    const ns = access.metadata.namespace ?? 'default';
    const withNs = { ...access, metadata: { ...access.metadata, namespace: ns } };
    const ref = access.spec.storeRef;
    const store = stores.find((s) => s.kind === ref.kind && s.metadata.name === ref.name && (s.kind === KINDS.ClusterDatasetStore || (s.metadata.namespace ?? 'default') === ns));
    // Namespace labels: the one the API server gives every namespace, a Namespace object in the
    // files, then --namespace-labels.
    const nsObject = objects.find((o) => o.kind === 'Namespace' && o.metadata?.name === ns) as { metadata?: { labels?: Record<string, string> } } | undefined;
    const labels = { 'kubernetes.io/metadata.name': ns, ...nsObject?.metadata?.labels, ...args.namespaceLabels };
    const v = validateAccess(withNs, store, labels, { providers: PROVIDER_REGISTRY });
    write(`# DatasetAccess ${ns}/${access.metadata.name}: ${v.ready ? 'Ready' : 'would be refused'}\n`);
    if (v.ready && v.policy && store) {
      const document = JSON.parse(v.policy) as unknown;
      const explained = providerOf(store.spec).explain(store.spec, document, granted(access.spec.verbs), v.packedSize ?? v.policy.length);
      write(explained.header + JSON.stringify(document, null, 2) + '\n' + explained.footer);
    } else {
      failed = true;
      for (const c of v.conditions.slice(1)) if (c.status !== 'True') write(`#   ${c.type}: ${c.reason}: ${c.message}\n`);
    }
  }
  return failed ? 1 : 0;
}
