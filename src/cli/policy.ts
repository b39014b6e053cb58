// `valet policy -f store.yaml -f access.yaml [--namespace-labels k=v,...]`: the session policy a
// DatasetAccess would get, rendered offline, or every reason it would be refused.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { KINDS } from '../api/v1alpha1/index.ts';
import type { AnyDatasetStore, DatasetAccess } from '../api/v1alpha1/index.ts';
import { validateAccess } from '../policy/index.ts';

const HELP = `Usage: valet policy -f FILE|DIR [-f FILE|DIR ...] [--namespace-labels k=v,k=v] [--access NAME]

Namespace labels (for a ClusterDatasetStore's namespaceSelector) come from a Namespace object in
the files, or from --namespace-labels.

Renders, without a cluster, the session policy each DatasetAccess in the files would get from the
store it names (also in the files), or says why it would be refused. Exit status 0 when every
access would be Ready, 1 when any would not, 2 for bad input.
`;

interface Parsed {
  files: string[];
  labels: Record<string, string>;
  only?: string;
}

function parseArgs(argv: readonly string[]): Parsed | string {
  const out: Parsed = { files: [], labels: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? '';
    if (a === '-f' || a === '--filename') out.files.push(value());
    else if (a === '--namespace-labels') {
      for (const pair of value().split(',').filter(Boolean)) {
        const eq = pair.indexOf('=');
        if (eq <= 0) return `--namespace-labels wants k=v pairs, got '${pair}'`;
        out.labels[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
    } else if (a === '--access') out.only = value();
    else if (a === '-h' || a === '--help') return 'help';
    else return `unknown argument '${a}'`;
  }
  if (out.files.length === 0) return 'give at least one -f FILE';
  return out;
}

export function policyCommand(argv: readonly string[], write: (s: string) => void, writeErr: (s: string) => void): number {
  const args = parseArgs(argv);
  if (args === 'help') {
    write(HELP);
    return 0;
  }
  if (typeof args === 'string') {
    writeErr(`valet policy: ${args}\n\n${HELP}`);
    return 2;
  }
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
  const stores = objects.filter((o) => o.kind === KINDS.DatasetStore || o.kind === KINDS.ClusterDatasetStore) as AnyDatasetStore[];
  const accesses = (objects.filter((o) => o.kind === KINDS.DatasetAccess) as DatasetAccess[]).filter((a) => !args.only || a.metadata.name === args.only);
  if (accesses.length === 0) {
    writeErr('valet policy: no DatasetAccess in the files' + (args.only ? ` named '${args.only}'` : '') + '\n');
    return 2;
  }
  let failed = false;
  for (const access of accesses) {
    if (!access.spec?.storeRef || !access.metadata?.name) {
      writeErr(`valet policy: a DatasetAccess without metadata.name or spec.storeRef\n`);
      return 2;
    }
    const ns = access.metadata.namespace ?? 'default';
    const withNs = { ...access, metadata: { ...access.metadata, namespace: ns } };
    const ref = access.spec.storeRef;
    const store = stores.find((s) => s.kind === ref.kind && s.metadata.name === ref.name && (s.kind === KINDS.ClusterDatasetStore || (s.metadata.namespace ?? 'default') === ns));
    // Namespace labels: a Namespace object in the files, overridden by --namespace-labels.
    const nsObject = objects.find((o) => o.kind === 'Namespace' && o.metadata?.name === ns) as { metadata?: { labels?: Record<string, string> } } | undefined;
    const labels = { ...nsObject?.metadata?.labels, ...args.labels };
    const v = validateAccess(withNs, store && store.kind === KINDS.DatasetStore ? { ...store, metadata: { ...store.metadata, namespace: store.metadata.namespace ?? 'default' } } : store, labels);
    write(`# DatasetAccess ${ns}/${access.metadata.name}: ${v.ready ? 'Ready' : 'would be refused'}\n`);
    if (v.ready && v.policy) {
      write(JSON.stringify(JSON.parse(v.policy), null, 2) + '\n');
      write(`# packed size: ${v.packedSize} of 2048 characters\n`);
    } else {
      failed = true;
      for (const c of v.conditions.slice(1)) if (c.status !== 'True') write(`#   ${c.type}: ${c.reason}: ${c.message}\n`);
    }
  }
  return failed ? 1 : 0;
}
