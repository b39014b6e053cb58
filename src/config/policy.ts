// `valet policy` configuration, declared once: which files to read, and what to assume about the
// access's namespace.
import { list, repeated, string, type Options } from './options.ts';
import { command, invalid } from './parse.ts';

export interface PolicyConfig {
  /** Files and folders (every .yaml and .yml in it) to read, in order. */
  readonly files: readonly string[];
  /** Labels of the access's namespace, over those of a Namespace object in the files. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  /** Only the DatasetAccess of this name; empty: every one in the files. */
  readonly access: string;
}

interface PolicyValues {
  readonly files: readonly string[];
  readonly namespaceLabels: readonly string[];
  readonly access: string;
}

const OPTIONS: Options<PolicyValues> = {
  files: repeated({ flag: 'filename', short: 'f', default: [], defaultText: 'none: give at least one', placeholder: 'FILE|DIR', item: (raw) => raw, description: 'A YAML file of stores, accesses and Namespaces, or a folder of them (every .yaml and .yml file in it).' }),
  namespaceLabels: list({
    flag: 'namespace-labels',
    default: [],
    repeatable: true,
    placeholder: 'K=V,K=V',
    description: "Labels of the access's namespace, for a ClusterDatasetStore's namespaceSelector; over those of a Namespace object in the files.",
    check: (pairs) => {
      const bad = pairs.find((p) => p.indexOf('=') <= 0);
      return bad === undefined ? undefined : `wants k=v pairs, and '${bad}' is not one`;
    },
  }),
  access: string({ flag: 'access', default: '', defaultText: 'every DatasetAccess in the files', placeholder: 'NAME', description: 'Render only the DatasetAccess of this name.' }),
};

export const POLICY_COMMAND = command<PolicyValues, PolicyConfig>({
  name: 'policy',
  usage: 'valet policy -f FILE|DIR [-f FILE|DIR ...] [--namespace-labels k=v,k=v] [--access NAME]',
  summary:
    'Renders, without a cluster, what each DatasetAccess in the files would be granted by the store it names (also in the files), ' +
    'or says why it would be refused: for an s3 store the STS session policy; for azureBlob the per-blob SAS scope (the SAS ' +
    "permissions each verb gets); for gcs the V4 signed-URL scope (the HTTP methods each verb gets). Namespace labels (for a " +
    "ClusterDatasetStore's namespaceSelector) come from a Namespace object in the files, or from --namespace-labels.",
  options: OPTIONS,
  notes: 'Exit status: 0 when every access would be Ready, 1 when any would not, 2 for bad input.',
  finish: (v) => {
    if (v.files.length === 0) throw invalid('give at least one -f FILE');
    const namespaceLabels = Object.fromEntries(v.namespaceLabels.map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
    return { files: v.files, namespaceLabels, access: v.access };
  },
});
