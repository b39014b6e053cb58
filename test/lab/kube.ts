// etcd and kube-apiserver on loopback, configured like controller-runtime's envtest: secure serving
// with a lab CA, client-certificate authentication for an admin, RBAC, service-account signing keys
// (so TokenRequest, bound tokens and TokenReview work) and admission webhooks enabled.
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createAuthority, createKeyPair, issueCertificate, type Authority } from '../../src/tls/pki.ts';
import { startProcess, waitReady, type ServerProcess } from './process.ts';

export interface KubePki {
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
}

export interface KubeFiles {
  dir: string;
  pki: KubePki;
  /** The lab CA (key included): the node issues its components' certificates from it. */
  authority: Authority;
  kubeconfig: string;
  serviceAccountIssuer: string;
}

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** Writes the lab's PKI and kubeconfig into `dir`. Done once per lab; restarts reuse it. */
export async function writeKubeFiles(dir: string, apiserverPort: number, extraIps: readonly string[] = []): Promise<KubeFiles> {
  const pkiDir = join(dir, 'pki');
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const ca = await createAuthority('valet-lab-ca');
  const serving = await issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    // The node reaches the apiserver at its own IP, pods at the kubernetes Service's cluster IP.
    ipAddresses: ['127.0.0.1', ...extraIps],
    usage: 'server',
  });
  const admin = await issueCertificate(ca, { commonName: 'valet-lab-admin', organizations: ['system:masters'], usage: 'client' });
  const sa = await createKeyPair();
  const files: Record<string, string> = {
    'ca.crt': ca.certPem,
    'apiserver.crt': serving.certPem,
    'apiserver.key': serving.privateKeyPem,
    'admin.crt': admin.certPem,
    'admin.key': admin.privateKeyPem,
    'sa.key': sa.privateKeyPem,
    'sa.pub': sa.publicKeyPem,
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(pkiDir, name), body, { mode: 0o600 });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'valet-lab', cluster: { server: `https://127.0.0.1:${apiserverPort}`, 'certificate-authority-data': b64(ca.certPem) } }],
      users: [{ name: 'valet-lab-admin', user: { 'client-certificate-data': b64(admin.certPem), 'client-key-data': b64(admin.privateKeyPem) } }],
      contexts: [{ name: 'valet-lab', context: { cluster: 'valet-lab', user: 'valet-lab-admin' } }],
      'current-context': 'valet-lab',
    }),
    { mode: 0o600 },
  );
  return {
    dir,
    pki: { caPem: ca.certPem, adminCertPem: admin.certPem, adminKeyPem: admin.privateKeyPem },
    authority: ca,
    kubeconfig,
    serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
  };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export function httpsGet(url: string, pki: KubePki): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: pki.caPem, cert: pki.adminCertPem, key: pki.adminKeyPem, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface EtcdOptions {
  binary: string;
  dir: string;
  clientPort: number;
  peerPort: number;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
  timeoutMs?: number;
}

export async function startEtcd(o: EtcdOptions): Promise<ServerProcess> {
  const data = join(o.dir, 'etcd-data');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const client = `http://127.0.0.1:${o.clientPort}`;
  const peer = `http://127.0.0.1:${o.peerPort}`;
  const proc = startProcess({
    name: 'etcd',
    command: o.binary,
    args: [
      `--data-dir=${data}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=default=${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    env: o.env,
    log: join(o.dir, 'logs', 'etcd.log'),
    detached: o.detached,
  });
  await waitReady(proc, async () => (await httpGet(`${client}/health`)).body.includes('"health":"true"'), o.timeoutMs ?? 30_000);
  return proc;
}

export interface ApiserverOptions {
  binary: string;
  files: KubeFiles;
  port: number;
  etcdPort: number;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
  timeoutMs?: number;
  /** With a lab node: the flags that let the node, its pods and the apiserver reach each other. */
  nodeFlags?: readonly string[];
}

export async function startApiserver(o: ApiserverOptions): Promise<ServerProcess> {
  const pki = join(o.files.dir, 'pki');
  const proc = startProcess({
    name: 'kube-apiserver',
    command: o.binary,
    args: [
      `--etcd-servers=http://127.0.0.1:${o.etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${o.port}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${join(pki, 'apiserver.crt')}`,
      `--tls-private-key-file=${join(pki, 'apiserver.key')}`,
      `--client-ca-file=${join(pki, 'ca.crt')}`,
      `--authorization-mode=${o.nodeFlags ? 'Node,RBAC' : 'RBAC'}`,
      `--service-account-issuer=${o.files.serviceAccountIssuer}`,
      `--service-account-key-file=${join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      '--allow-privileged=true',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '--v=1',
      // Like envtest: no Endpoints for the kubernetes Service (a loopback address is refused there).
      // A lab node advertises its own address instead (nodeFlags).
      ...(o.nodeFlags ?? ['--endpoint-reconciler-type=none']),
    ],
    env: o.env,
    log: join(o.files.dir, 'logs', 'kube-apiserver.log'),
    detached: o.detached,
  });
  await waitReady(
    proc,
    async () => (await httpsGet(`https://127.0.0.1:${o.port}/readyz`, o.files.pki)).status === 200,
    o.timeoutMs ?? 90_000,
  );
  return proc;
}
