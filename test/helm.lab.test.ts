// charts/valet with the real `helm` (built from the Go module proxy by test/lab/helm.ts): lint,
// render, schema, and install/upgrade/uninstall into the lab's real kube-apiserver.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { AdmissionregistrationV1Api, ApiextensionsV1Api, CoordinationV1Api, CustomObjectsApi, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { OPERATOR_COMMAND } from '../src/config/operator.ts';
import { parseConfig } from '../src/config/parse.ts';
import { apply } from './lab/apply.ts';
import { buildHelm, helmCli, type Helm } from './lab/helm.ts';
import type { Lab } from './lab/index.ts';
import { allocatePorts, waitReady } from './lab/process.ts';
import { HELM_VERSION } from './lab/versions.ts';
import { useLabLogs } from './lab/vitest.ts';
import { startWorld, type World } from './lab/world.ts';

const root = join(import.meta.dirname, '..');
const chart = join(root, 'charts', 'valet');
const NS = 'valet-system';

/** Every optional part on (ServiceMonitor, NetworkPolicy, cert-manager). */
const ALL_ON = ['--set', 'serviceMonitor.enabled=true', '--set', 'networkPolicy.enabled=true', '--set', 'certManager.enabled=true'];

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  [k: string]: unknown;
}

let helm: Helm;
let state: string;

function objects(manifest: string): Obj[] {
  return parseAllDocuments(manifest)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

async function render(...args: string[]): Promise<Obj[]> {
  return objects(await helm.ok(['template', 'valet', chart, '--namespace', NS, ...args]));
}

function one(objs: Obj[], kind: string, name?: string): Obj {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found.map((o) => `${o.kind}/${o.metadata.name}`), `exactly one ${kind}${name ? ` ${name}` : ''}`).toHaveLength(1);
  return found[0] as Obj;
}

// Typed views of the rendered objects, enough for the assertions below.
interface Container {
  name: string;
  args: string[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  securityContext: Record<string, unknown>;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface DeploymentView {
  spec: { replicas: number; template: { spec: { securityContext: Record<string, unknown>; containers: Container[]; volumes: { name: string; secret?: { secretName: string; optional?: boolean } }[] } } };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Webhook {
  name: string;
  failurePolicy: string;
  sideEffects: string;
  timeoutSeconds: number;
  reinvocationPolicy: string;
  admissionReviewVersions: string[];
  objectSelector: unknown;
  namespaceSelector: unknown;
  rules: unknown[];
  clientConfig: { caBundle?: string; service?: { name: string; namespace: string; port: number; path: string } };
}

const operatorContainer = (objs: Obj[]) => (one(objs, 'Deployment') as unknown as DeploymentView).spec.template.spec.containers[0] as Container;
const rules = (o: Obj) => (o as unknown as { rules: Rule[] }).rules.map((r) => `${r.apiGroups.join(',') || 'core'} ${r.resources.join(',')} ${r.verbs.join(',')}${r.resourceNames ? ` [${r.resourceNames.join(',')}]` : ''}`);

beforeAll(async () => {
  const binary = await buildHelm();
  state = mkdtempSync(join(tmpdir(), 'valet-helm-'));
  helm = helmCli(binary, state);
}, 1_800_000);

afterAll(() => {
  if (state) rmSync(state, { recursive: true, force: true });
});

describe(`the Helm chart, linted and rendered by helm ${HELM_VERSION}`, () => {
  it('ships the CRDs byte for byte as crds/ holds them (copy crds/*.yaml to charts/valet/files/crds/ after changing them)', () => {
    const source = readdirSync(join(root, 'crds')).sort();
    expect(readdirSync(join(chart, 'files', 'crds')).sort()).toEqual(source);
    for (const f of source) {
      expect(readFileSync(join(chart, 'files', 'crds', f), 'utf8'), `charts/valet/files/crds/${f} differs from crds/${f}`).toBe(readFileSync(join(root, 'crds', f), 'utf8'));
    }
  });

  it('passes `helm lint --strict` with its defaults and with every optional part on', async () => {
    const plain = await helm.run(['lint', '--strict', chart]);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    expect(plain.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    const all = await helm.run(['lint', '--strict', chart, ...ALL_ON]);
    expect(all.code, all.stdout + all.stderr).toBe(0);
  });

  it('renders the operator, its Service, ServiceAccount, RBAC, webhook, PodDisruptionBudget and CRDs; the optional parts only when asked', async () => {
    const kinds = (objs: Obj[]) => objs.map((o) => o.kind).sort();
    const base = [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'Deployment',
      'MutatingWebhookConfiguration',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'ServiceAccount',
    ];
    expect(kinds(await render())).toEqual(base);
    expect(kinds(await render(...ALL_ON))).toEqual([...base, 'Certificate', 'Certificate', 'Issuer', 'Issuer', 'NetworkPolicy', 'ServiceMonitor'].sort());
    expect(kinds(await render('--set', 'crds.install=false'))).toEqual(base.filter((k) => k !== 'CustomResourceDefinition'));
    // An existing cert-manager issuer: only the serving Certificate is rendered.
    const own = await render('--set', 'certManager.enabled=true', '--set', 'certManager.issuerRef.name=corp-ca', '--set', 'certManager.issuerRef.kind=ClusterIssuer');
    expect((one(own, 'Certificate') as unknown as { spec: { issuerRef: unknown } }).spec.issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
    expect(own.filter((o) => o.kind === 'Issuer')).toEqual([]);
  });

  it('runs two leader-electing replicas, hardened: non-root 65532, read-only root, no privilege escalation, no capabilities, seccomp RuntimeDefault', async () => {
    const objs = await render();
    const deployment = one(objs, 'Deployment') as unknown as DeploymentView;
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const c = operatorContainer(objs);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.resources.requests).toEqual({ cpu: '50m', memory: '128Mi' });
    expect(c.resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    // Leader election: identity and Lease namespace from the downward API.
    expect(c.env.filter((e) => e.valueFrom?.fieldRef).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
      ['POD_NAME', 'metadata.name'],
      ['POD_NAMESPACE', 'metadata.namespace'],
    ]);
    expect(c.ports.map((p) => [p.name, p.containerPort])).toEqual([
      ['issuer', 8443],
      ['webhook', 9443],
      ['metrics', 9090],
    ]);
    expect(c.args).toEqual(
      expect.arrayContaining([
        'operator',
        `--namespace=${NS}`,
        '--leader-elect=true',
        '--metrics-address=0.0.0.0:9090',
        '--issuer-address=0.0.0.0:8443',
        '--webhook-address=0.0.0.0:9443',
        '--webhook-configuration-name=valet',
        '--tls-secret=valet-tls',
        `--tls-dns-names=valet.${NS}.svc,valet.${NS}.svc.cluster.local`,
        '--sidecar-image=ghcr.io/valet-dev/valet:0.1.0',
        `--sidecar-issuer-url=https://valet.${NS}.svc:8443`,
      ]),
    );
    // The operator keeps its certificate in the Secret itself: nothing to mount. /tmp is the only
    // writable place.
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    // With cert-manager, the operator mounts the Secret cert-manager writes and reads the files.
    const withCm = await render(...ALL_ON);
    const cm = operatorContainer(withCm);
    expect(cm.args).toEqual(expect.arrayContaining(['--tls-cert-file=/etc/valet/tls/tls.crt', '--tls-key-file=/etc/valet/tls/tls.key']));
    expect(cm.args.some((a) => a.startsWith('--tls-secret'))).toBe(false);
    expect(cm.volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/valet/tls', readOnly: true });
    expect((one(withCm, 'Deployment') as unknown as DeploymentView).spec.template.spec.volumes.find((v) => v.name === 'tls')?.secret).toMatchObject({ secretName: 'valet-tls' });
    const pdb = one(objs, 'PodDisruptionBudget') as unknown as { spec: { minAvailable: number } };
    expect(pdb.spec.minAvailable).toBe(1);
  });

  it('every flag the chart passes is one `valet operator` accepts, with a value it accepts', async () => {
    for (const values of [[], ALL_ON]) {
      const [command, ...args] = operatorContainer(await render(...values)).args;
      expect(command).toBe('operator');
      const known = new Set(Object.values(OPERATOR_COMMAND.options).map((o) => `--${o.flag}`));
      expect(args.map((a) => a.slice(0, a.includes('=') ? a.indexOf('=') : undefined)).filter((n) => !known.has(n))).toEqual([]);
      // As src/cli/operator.ts does: one parse of the operator's and the webhook's flags.
      const { operator: config, webhook: hook } = parseConfig(OPERATOR_COMMAND, args, { POD_NAME: 'valet-0', POD_NAMESPACE: NS });
      expect(hook.injection.issuerUrl).toBe(`https://valet.${NS}.svc:8443`);
      expect(config.webhookConfigurationName).toBe('valet');
      if (values.length === 0) expect(config.tlsDnsNames).toEqual([`valet.${NS}.svc`, `valet.${NS}.svc.cluster.local`]);
    }
  });

  it('registers the webhook as Fail-closed for labelled pods only, outside its own namespace, with a 5 s timeout', async () => {
    const mwc = one(await render(), 'MutatingWebhookConfiguration') as unknown as { metadata: Obj['metadata']; webhooks: Webhook[] };
    expect(mwc.webhooks).toHaveLength(1);
    const w = mwc.webhooks[0] as Webhook;
    expect(w).toMatchObject({
      name: 'pods.valet.dev',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
      sideEffects: 'None',
      timeoutSeconds: 5,
      reinvocationPolicy: 'IfNeeded',
      objectSelector: { matchLabels: { 'valet.dev/inject': 'true' } },
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [NS, 'kube-system'] }] },
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
    });
    // The operator writes caBundle at run time; the chart never does (an upgrade must not clear it).
    expect(w.clientConfig).toEqual({ service: { name: 'valet', namespace: NS, port: 443, path: '/mutate' } });
    expect(mwc.metadata.annotations).toBeUndefined();
    const withCm = one(await render(...ALL_ON), 'MutatingWebhookConfiguration');
    expect(withCm.metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': `${NS}/valet-serving` });
  });

  it('grants least privilege: reads of its kinds, its own status, token reviews, pod reads, events; names wherever a name is known', async () => {
    const objs = await render();
    expect(rules(one(objs, 'ClusterRole'))).toEqual([
      'valet.dev datasetaccesses,datasetstores,clusterdatasetstores get,list,watch',
      'valet.dev datasetaccesses/status update',
      'core namespaces list,watch',
      'core pods get',
      'authentication.k8s.io tokenreviews create',
      'core events create,patch',
      'core configmaps create',
      'core configmaps get,list,update [valet-issuer-ca]',
      'admissionregistration.k8s.io mutatingwebhookconfigurations get,update [valet]',
    ]);
    const role = one(objs, 'Role');
    expect(role.metadata.namespace).toBe(NS);
    expect(rules(role)).toEqual([
      'coordination.k8s.io leases create',
      'coordination.k8s.io leases get,update [valet-operator]',
      'core secrets get',
      'core secrets create',
      'core secrets update [valet-tls]',
    ]);
    // Secrets are readable only in the release's namespace (ADR 0008): no cluster-wide rule, no
    // Role elsewhere; the old knob that widened it is refused by the values schema.
    expect(rules(one(objs, 'ClusterRole')).filter((r) => r.includes('secrets'))).toEqual([]);
    expect(objs.filter((o) => (o.kind === 'Role' || o.kind === 'RoleBinding') && o.metadata.namespace !== NS)).toEqual([]);
    const old = await helm.run(['template', 'valet', chart, '--namespace', NS, '--set', 'rbac.storeSecretNamespaces={ml}']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('rbac');
    // With cert-manager the operator neither keeps a Secret, nor publishes its CA, nor touches the
    // webhook configuration.
    const cm = await render(...ALL_ON);
    expect(rules(one(cm, 'Role'))).toEqual(['coordination.k8s.io leases create', 'coordination.k8s.io leases get,update [valet-operator]', 'core secrets get']);
    expect(rules(one(cm, 'ClusterRole')).filter((r) => /configmaps|mutatingwebhookconfigurations/.test(r))).toEqual([]);
  });

  it('renders the CRDs exactly as crds/ holds them, marked to be kept on uninstall', async () => {
    const crds = (await render()).filter((o) => o.kind === 'CustomResourceDefinition');
    for (const f of readdirSync(join(root, 'crds'))) {
      const source = parse(readFileSync(join(root, 'crds', f), 'utf8')) as Obj;
      const rendered = crds.find((c) => c.metadata.name === source.metadata.name);
      expect(rendered, f).toBeDefined();
      expect(rendered?.spec, `${f}: spec changed on the way through the template`).toEqual(source.spec);
      expect(rendered?.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    }
  });

  it('values.schema.json refuses a bad value with a message naming it', async () => {
    const refused = async (args: string[], ...messages: RegExp[]) => {
      const r = await helm.run(['template', 'valet', chart, ...args]);
      expect(r.code, `${args.join(' ')} was accepted`).not.toBe(0);
      for (const m of messages) expect(r.stderr).toMatch(m);
    };
    await refused(['--set', 'replicas=two'], /don't meet the specifications of the schema/, /at '\/replicas': got string, want integer/);
    await refused(['--set', 'replicas=0'], /at '\/replicas': minimum: got 0, want 1/);
    await refused(['--set', 'replica=3'], /additional properties 'replica' not allowed/);
    await refused(['--set', 'securityContext.runAsUser=0'], /at '\/securityContext\/runAsUser': minimum: got 0, want 1/);
    await refused(['--set', 'webhook.timeoutSeconds=60'], /at '\/webhook\/timeoutSeconds': maximum: got 60, want 30/);
    await refused(['--set', 'webhook.failurePolicy=Maybe'], /at '\/webhook\/failurePolicy': value must be one of 'Fail', 'Ignore'/);
    await refused(['--set', 'image.digest=latest'], /at '\/image\/digest'/);
    // Checks across values, made by the templates.
    await refused(['--set', 'replicas=1'], /podDisruptionBudget.minAvailable \(1\) must be less than replicas \(1\)/);
  });
});

describe(
  'the Helm chart installed into the lab kube-apiserver without a node, every object checked through the API ' +
    '(the same chart running on the lab node, its pods Ready, is test/node/training-job.lab.test.ts, with its faults)',
  () => {
    let world: World | undefined;
    let lab: Lab;
    let kube: Helm;
    let api: KubernetesObjectApi;
    useLabLogs(() => lab);

    /** Reads an object through the API; undefined when it does not exist. */
    const read = async (o: Obj): Promise<KubernetesObject | undefined> => {
      try {
        return await api.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } });
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    };
    const manifest = async (release: string, namespace: string) => objects(await kube.ok(['get', 'manifest', release, '--namespace', namespace]));

    /** Stand-ins for CRDs of other projects (Prometheus Operator, cert-manager) that accept any spec. */
    const standIn = (group: string, kind: string, plural: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ${plural}.${group}}
spec:
  group: ${group}
  scope: Namespaced
  names: {kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List}
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`;

    beforeAll(async () => {
      // The apiserver alone: the chart installs the CRDs and Valet itself.
      world = await startWorld({ lab: { minio: false }, crds: false, operator: false });
      lab = world.lab;
      api = KubernetesObjectApi.makeApiClient(lab.kubeConfig);
      kube = helmCli(helm.binary, join(state, 'lab'), lab.kubeconfig);
      const crds = [
        standIn('monitoring.coreos.com', 'ServiceMonitor', 'servicemonitors'),
        standIn('cert-manager.io', 'Certificate', 'certificates'),
        standIn('cert-manager.io', 'Issuer', 'issuers'),
      ].join('---\n');
      await apply(lab.kubeConfig, loadAllYaml(crds) as KubernetesObject[]);
    });

    afterAll(async () => {
      await world?.stop();
    });

    it('`helm install` creates every object of the chart, and the CRDs work', async () => {
      const out = await kube.ok(['install', 'valet', chart, '--namespace', NS, '--create-namespace', '--set', 'serviceMonitor.enabled=true', '--set', 'networkPolicy.enabled=true']);
      expect(out).toContain('STATUS: deployed');
      const objs = await manifest('valet', NS);
      expect(objs.map((o) => o.kind).sort()).toEqual(
        [
          'ClusterRole',
          'ClusterRoleBinding',
          'CustomResourceDefinition',
          'CustomResourceDefinition',
          'CustomResourceDefinition',
          'Deployment',
          'MutatingWebhookConfiguration',
          'NetworkPolicy',
          'PodDisruptionBudget',
          'Role',
          'RoleBinding',
          'Service',
          'ServiceAccount',
          'ServiceMonitor',
        ].sort(),
      );
      for (const o of objs) {
        const got = await read(o);
        expect(got, `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name} is not in the API server`).toBeDefined();
        expect(got?.metadata?.annotations?.['meta.helm.sh/release-name']).toBe('valet');
      }
      const ext = lab.kubeConfig.makeApiClient(ApiextensionsV1Api);
      for (const name of ['datasetaccesses.valet.dev', 'datasetstores.valet.dev', 'clusterdatasetstores.valet.dev']) {
        for (let i = 0; ; i++) {
          const crd = await ext.readCustomResourceDefinition({ name });
          if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
          if (i > 100) throw new Error(`${name} not Established`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // The CEL rules came through Helm intact: the API server enforces them.
      await lab.core.createNamespace({ body: { metadata: { name: 'ml' } } });
      const bad = lab.kubeConfig.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: 'valet.dev',
        version: 'v1alpha1',
        namespace: 'ml',
        plural: 'datasetaccesses',
        body: {
          apiVersion: 'valet.dev/v1alpha1',
          kind: 'DatasetAccess',
          metadata: { name: 'escape' },
          spec: { storeRef: { kind: 'DatasetStore', name: 'lab' }, prefix: 'imagenet/../secret/', verbs: ['read'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
        },
      });
      await expect(bad).rejects.toThrow(/must not contain a '\.' or '\.\.' segment/);
    });

    it('the webhook configuration holds back labelled pods only, and never in its own namespace', async () => {
      await lab.core.createNamespacedServiceAccount({ namespace: 'ml', body: { metadata: { name: 'trainer' } } });
      const pod = (name: string, labels: Record<string, string>, sa = 'trainer') => ({
        metadata: { name, labels },
        spec: { serviceAccountName: sa, containers: [{ name: 'app', image: 'example.invalid/app:1' }] },
      });
      // No operator pod can answer here, so the labelled pod is refused (failurePolicy Fail)…
      const refused = await lab.core.createNamespacedPod({ namespace: 'ml', body: pod('labelled', { 'valet.dev/inject': 'true' }) }).then(
        () => undefined,
        (err: { code?: number; body?: string }) => err,
      );
      expect(refused, 'a labelled pod was created with no webhook to inject it').toBeDefined();
      expect((JSON.parse(refused?.body ?? '{}') as { message?: string }).message).toMatch(/^Internal error occurred: failed calling webhook "pods\.valet\.dev"/);
      // …while every other pod is created as if Valet were not installed,
      await lab.core.createNamespacedPod({ namespace: 'ml', body: pod('trainer-0', {}) });
      // and the operator's own namespace is never sent to the webhook.
      await lab.core.createNamespacedPod({ namespace: NS, body: pod('labelled-here', { 'valet.dev/inject': 'true' }, 'valet') });
      await lab.core.deleteNamespacedPod({ namespace: NS, name: 'labelled-here' });
    });

    it('`valet operator` run with the chart\'s ServiceAccount and flags has every permission it needs', async () => {
      // The ServiceAccount's own token (as the kubelet would mount it) in a kubeconfig.
      const tokenRequest = await lab.core.createNamespacedServiceAccountToken({ namespace: NS, name: 'valet', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
      const kubeconfig = join(lab.dir, 'valet-operator.kubeconfig');
      writeFileSync(
        kubeconfig,
        stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'lab', cluster: { server: `https://127.0.0.1:${lab.ports.apiserver}`, 'certificate-authority-data': Buffer.from(lab.caPem).toString('base64') } }],
          users: [{ name: 'valet', user: { token: tokenRequest.status?.token } }],
          contexts: [{ name: 'valet', context: { cluster: 'lab', user: 'valet' } }],
          'current-context': 'valet',
        }),
        { mode: 0o600 },
      );
      const custom = lab.kubeConfig.makeApiClient(CustomObjectsApi);
      await custom.createNamespacedCustomObject({
        group: 'valet.dev',
        version: 'v1alpha1',
        namespace: 'ml',
        plural: 'datasetaccesses',
        body: {
          apiVersion: 'valet.dev/v1alpha1',
          kind: 'DatasetAccess',
          metadata: { name: 'imagenet' },
          spec: { storeRef: { kind: 'DatasetStore', name: 'missing' }, prefix: 'imagenet/', verbs: ['read'], subjects: { serviceAccounts: ['trainer'] }, sessionDurationSeconds: 900 },
        },
      });

      // The Deployment's own arguments, on loopback ports.
      const deployed = (await read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'valet', namespace: NS } })) as unknown as DeploymentView;
      const ports = await allocatePorts(['metrics', 'issuer', 'webhook'] as const);
      const local: Record<string, string> = {
        '--metrics-address': `127.0.0.1:${ports.metrics}`,
        '--issuer-address': `127.0.0.1:${ports.issuer}`,
        '--webhook-address': `127.0.0.1:${ports.webhook}`,
      };
      const args = (deployed.spec.template.spec.containers[0]?.args ?? []).map((a) => {
        const name = a.split('=')[0] ?? '';
        return name in local ? `${name}=${local[name]}` : a;
      });
      const log = join(lab.logsDir, 'operator-with-chart-rbac.log');
      // The chart's own arguments (they start with the `operator` command), with the ServiceAccount's kubeconfig.
      const [command, ...flags] = args;
      expect(command).toBe('operator');
      const operator = (world as World).startOperatorCommand([...flags, `--kubeconfig=${kubeconfig}`], { log: 'operator-with-chart-rbac.log', env: { POD_NAME: 'valet-0', POD_NAMESPACE: NS } });
      try {
        await waitReady(operator, async () => (await fetch(`http://127.0.0.1:${ports.metrics}/readyz`)).ok, 60_000);
        const until = async <T>(what: string, fn: () => Promise<T | undefined>): Promise<T> => {
          for (let i = 0; ; i++) {
            const v = await fn().catch(() => undefined);
            if (v !== undefined) return v;
            if (i > 150 || operator.exited()) throw new Error(`timed out waiting for ${what}; operator log:\n${readFileSync(log, 'utf8').slice(-3000)}`);
            await new Promise((r) => setTimeout(r, 200));
          }
        };
        // Leader election: the Lease, in the release namespace.
        const lease = await until('the Lease', async () => {
          const l = await lab.kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: NS, name: 'valet-operator' });
          return l.spec?.holderIdentity === 'valet-0' ? l : undefined;
        });
        expect(lease.spec?.holderIdentity).toBe('valet-0');
        // TLS: its Secret, the webhook's caBundle, and the CA ConfigMap in a tenant namespace.
        const caPem = await until('the CA ConfigMap in ml', async () => (await lab.core.readNamespacedConfigMap({ namespace: 'ml', name: 'valet-issuer-ca' })).data?.['ca.crt']);
        expect(caPem).toContain('BEGIN CERTIFICATE');
        await until('the TLS Secret', async () => (await lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' })).data);
        const caBundle = await until('the caBundle', async () => (await lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'valet' })).webhooks?.[0]?.clientConfig.caBundle);
        expect(Buffer.from(caBundle, 'base64').toString()).toBe(caPem);
        // The controller: DatasetAccess status, and an Event.
        const status = await until('the DatasetAccess status', async () => {
          const a = (await custom.getNamespacedCustomObject({ group: 'valet.dev', version: 'v1alpha1', namespace: 'ml', plural: 'datasetaccesses', name: 'imagenet' })) as { status?: { conditions?: { type: string; status: string; reason: string }[] } };
          return a.status?.conditions?.find((c) => c.type === 'Ready');
        });
        expect(status).toMatchObject({ status: 'False' });
        await until('a Warning Event', async () => ((await lab.core.listNamespacedEvent({ namespace: 'ml' })).items.some((e) => e.type === 'Warning' && e.involvedObject.name === 'imagenet') ? true : undefined));
        // The issuer: TokenReview and the pod read, over TLS that the published CA verifies for the
        // Service's DNS name.
        const pod = await lab.core.readNamespacedPod({ namespace: 'ml', name: 'trainer-0' });
        const token = await lab.token('ml', 'trainer', { boundPod: { name: 'trainer-0', uid: pod.metadata?.uid ?? '' } });
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpsRequest(
            { host: '127.0.0.1', port: ports.issuer, path: '/v1/keys', method: 'POST', servername: `valet.${NS}.svc`, ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 15_000 },
            (res) => {
              let body = '';
              res.on('data', (c: Buffer) => (body += c.toString()));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect(answer.status, answer.body).toBe(403);
        expect((JSON.parse(answer.body) as { error?: { code?: string } }).error?.code).toBe('AccessNotReady');
        expect(readFileSync(log, 'utf8')).not.toMatch(/forbidden/i);
      } finally {
        await operator.stop();
      }
    });

    it('`helm upgrade` keeps the caBundle the operator wrote', async () => {
      const admission = lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      const caBundle = Buffer.from(lab.caPem).toString('base64');
      const current = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      for (const w of current.webhooks ?? []) w.clientConfig.caBundle = caBundle;
      await admission.replaceMutatingWebhookConfiguration({ name: 'valet', body: current });
      await kube.ok(['upgrade', 'valet', chart, '--namespace', NS, '--reuse-values', '--set', 'replicas=3']);
      const after = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      expect(after.webhooks?.[0]?.clientConfig.caBundle).toBe(caBundle);
      const deployment = (await read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'valet', namespace: NS } })) as unknown as DeploymentView;
      expect(deployment.spec.replicas).toBe(3);
    });

    it('a second release with cert-manager and crds.install=false creates its Certificates and Issuers and leaves the CRDs to the first', async () => {
      const ns = 'valet-cm';
      await kube.ok(['install', 'valet-cm', chart, '--namespace', ns, '--create-namespace', '--set', 'certManager.enabled=true', '--set', 'crds.install=false']);
      const objs = await manifest('valet-cm', ns);
      expect(objs.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
      expect(objs.filter((o) => ['Certificate', 'Issuer'].includes(o.kind)).map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
        'Certificate/valet-cm-ca',
        'Certificate/valet-cm-serving',
        'Issuer/valet-cm-ca',
        'Issuer/valet-cm-selfsigned',
      ]);
      for (const o of objs) expect(await read(o), `${o.kind} ${o.metadata.name}`).toBeDefined();
      const mwc = await lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'valet-cm' });
      expect(mwc.metadata?.annotations?.['cert-manager.io/inject-ca-from']).toBe(`${ns}/valet-cm-serving`);
      await kube.ok(['uninstall', 'valet-cm', '--namespace', ns]);
      for (const o of objs) expect(await read(o), `${o.kind} ${o.metadata.name} left after uninstall`).toBeUndefined();
    });

    it('`helm uninstall` removes every object but keeps the CRDs (and with them every DatasetAccess and store)', async () => {
      const objs = await manifest('valet', NS);
      const out = await kube.run(['uninstall', 'valet', '--namespace', NS]);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout + out.stderr).toMatch(/kept due to the resource policy/);
      for (const o of objs) {
        const got = await read(o);
        if (o.kind === 'CustomResourceDefinition') expect(got, `CRD ${o.metadata.name} was deleted`).toBeDefined();
        else expect(got, `${o.kind} ${o.metadata.name} left after uninstall`).toBeUndefined();
      }
      const list = await kube.ok(['list', '--all-namespaces', '--short']);
      expect(list.trim()).toBe('');
    });
  },
);
