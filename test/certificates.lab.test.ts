// The operator's own TLS with no cert-manager: two real `valet operator` replicas agree on one CA
// and certificate kept in a Secret, publish the CA (webhook caBundle, a ConfigMap per namespace,
// new namespaces included), renew a certificate inside its renewal window without a restart, and
// rotate a CA near its end while the old one stays trusted beside it.
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { applyMutatingWebhookConfiguration } from '../src/k8s/webhook-config.ts';
import { authorityFromPem, createAuthority, issueCertificate } from '../src/tls/pki.ts';
import { podWebhookConfiguration } from '../src/webhook/index.ts';
import { installCrds } from './lab/apply.ts';
import { startLab, type Lab } from './lab/index.ts';
import { allocatePorts, startProcess, type ServerProcess } from './lab/process.ts';
import { useLabLogs } from './lab/vitest.ts';
import { waitFor as until } from './lab/wait.ts';

const root = join(import.meta.dirname, '..');
const NS = 'valet-system';
const DNS = 'valet.valet-system.svc';
let lab: Lab;
const replicas: { proc: ServerProcess; issuerPort: number; webhookPort: number }[] = [];

async function startReplica(id: string): Promise<void> {
  const p = await allocatePorts(['issuer', 'webhook', 'metrics'] as const);
  const proc = startProcess({
    name: `operator-${id}`,
    command: process.execPath,
    args: [
      join(root, 'src/cli/main.ts'),
      'operator',
      `--kubeconfig=${lab.kubeconfig}`,
      `--namespace=${NS}`,
      `--identity=${id}`,
      `--metrics-address=127.0.0.1:${p.metrics}`,
      `--issuer-address=127.0.0.1:${p.issuer}`,
      `--webhook-address=127.0.0.1:${p.webhook}`,
      '--tls-secret=valet-tls',
      '--tls-check-interval-seconds=1',
      '--sidecar-image=valet:test',
      `--sidecar-issuer-url=https://${DNS}:8443`,
    ],
    log: join(lab.logsDir, `operator-${id}.log`),
  });
  replicas.push({ proc, issuerPort: p.issuer, webhookPort: p.webhook });
}

/** The certificate a server presents, verified against `caPem` for the Service's DNS name. */
function presented(port: number, caPem: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: DNS, ca: caPem }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(raw));
    });
    socket.on('error', reject);
  });
}


async function secret(): Promise<Record<string, string>> {
  const s = await lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}

beforeAll(async () => {
  lab = await startLab({ minio: false });
  await installCrds(lab.kubeConfig, join(root, 'crds'));
  for (const name of [NS, 'team-a']) await lab.core.createNamespace({ body: { metadata: { name } } });
  // As the chart installs it: the caBundle is a placeholder until the operator fills it in.
  const placeholder = await createAuthority('placeholder');
  await applyMutatingWebhookConfiguration(lab.kubeConfig, podWebhookConfiguration({ caPem: placeholder.certPem, service: { namespace: NS, name: 'valet', port: 9443 }, excludeNamespaces: [NS] }));
  await startReplica('a');
  await startReplica('b');
});
afterAll(async () => {
  for (const r of replicas) await r.proc.stop();
  await lab?.stop();
});
useLabLogs(() => lab);

describe("the operator's own TLS", () => {
  it('creates one CA and certificate that both replicas serve, for the Service name', async () => {
    const s = await until('the TLS Secret', secret);
    const ca = s['ca.crt'] ?? '';
    const certs = await Promise.all(replicas.flatMap((r) => [until('issuer TLS', () => presented(r.issuerPort, ca)), until('webhook TLS', () => presented(r.webhookPort, ca))]));
    expect(new Set(certs.map((c) => c.fingerprint256)).size).toBe(1);
    expect(certs[0]?.subjectAltName).toContain(`DNS:${DNS}`);
    expect(certs[0]?.checkIssued(new X509Certificate(ca))).toBe(true);
  });

  it('publishes the CA as the webhook caBundle and in every namespace, new ones included', async () => {
    const ca = (await secret())['ca.crt'] ?? '';
    const admission = lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await until('the caBundle', async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      return Buffer.from(mwc.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString() === ca ? true : undefined;
    });
    for (const namespace of ['team-a', 'default', NS]) {
      const cm = await until(`the CA ConfigMap in ${namespace}`, () => lab.core.readNamespacedConfigMap({ namespace, name: 'valet-issuer-ca' }));
      expect(cm.data?.['ca.crt']).toBe(ca);
    }
    await lab.core.createNamespace({ body: { metadata: { name: 'team-new' } } });
    const fresh = await until('the CA ConfigMap in a new namespace', () => lab.core.readNamespacedConfigMap({ namespace: 'team-new', name: 'valet-issuer-ca' }), 15_000);
    expect(fresh.data?.['ca.crt']).toBe(ca);
  });

  it('renews a certificate inside its renewal window and serves the new one without a restart', async () => {
    const s = await secret();
    const ca = await authorityFromPem(s['ca.crt'] ?? '', s['ca.key'] ?? '');
    // What an aging deployment looks like: a certificate with one day left (window: 30 days).
    const aging = await issueCertificate(ca, { commonName: DNS, dnsNames: [DNS], usage: 'server', validDays: 1 });
    const current = await lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
    await lab.core.replaceNamespacedSecret({
      namespace: NS,
      name: 'valet-tls',
      body: { ...current, data: undefined, stringData: { ...s, 'tls.crt': aging.certPem + (s['ca.crt'] ?? ''), 'tls.key': aging.privateKeyPem } },
    });
    const renewed = await until('a renewed certificate', async () => {
      const now = await secret();
      const cert = new X509Certificate(now['tls.crt'] ?? '');
      return new Date(cert.validTo).getTime() - Date.now() > 300 * 86_400_000 ? cert : undefined;
    });
    expect((await secret())['ca.crt']).toBe(s['ca.crt']);
    for (const r of replicas) {
      // The issuer and the webhook (which the apiserver calls) each serve the renewed one.
      for (const port of [r.issuerPort, r.webhookPort]) {
        const served = await until('the renewed certificate on the wire', async () => {
          const c = await presented(port, s['ca.crt'] ?? '');
          return c.fingerprint256 === renewed.fingerprint256 ? c : undefined;
        });
        expect(served.fingerprint256).toBe(renewed.fingerprint256);
      }
      expect(r.proc.exited()).toBe(false);
    }
  });

  it('rotates a CA near its end: a new CA signs the certificate, the old one stays in every published bundle', async () => {
    const before = await secret();
    // What a deployment looks like a few weeks before its CA expires: the CA has 20 days left
    // (inside the 30-day window), and so has the certificate it signed.
    const old = await createAuthority('valet-operator-ca', 20);
    const leaf = await issueCertificate(old, { commonName: DNS, dnsNames: [DNS], usage: 'server', validDays: 19 });
    const current = await lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
    await lab.core.replaceNamespacedSecret({
      namespace: NS,
      name: 'valet-tls',
      body: { ...current, data: undefined, stringData: { 'ca.crt': old.certPem, 'ca.key': old.privateKeyPem, 'tls.crt': leaf.certPem + old.certPem, 'tls.key': leaf.privateKeyPem } },
    });
    const rotated = await until('a new CA', async () => {
      const now = await secret();
      return now['ca.crt'] !== old.certPem ? now : undefined;
    });
    const fresh = rotated['ca.crt'] ?? '';
    expect(fresh).not.toBe(before['ca.crt']);
    expect(new Date(new X509Certificate(fresh).validTo).getTime() - Date.now()).toBeGreaterThan(3000 * 86_400_000);
    expect(rotated['ca-previous.crt']).toBe(old.certPem);
    const bundle = fresh + old.certPem;

    const admission = lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const caBundle = await until('the rotated caBundle', async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      const pem = Buffer.from(mwc.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString();
      return pem.includes(fresh) ? pem : undefined;
    });
    expect(caBundle).toBe(bundle);
    for (const namespace of ['team-a', 'team-new']) {
      const cm = await until(`the rotated bundle in ${namespace}`, async () => {
        const got = await lab.core.readNamespacedConfigMap({ namespace, name: 'valet-issuer-ca' });
        return got.data?.['ca.crt']?.includes(fresh) ? got : undefined;
      });
      expect(cm.data?.['ca.crt']).toBe(bundle);
    }
    const freshCa = new X509Certificate(fresh);
    for (const r of replicas) {
      for (const port of [r.issuerPort, r.webhookPort]) {
        const served = await until('a certificate from the new CA on the wire', async () => {
          const c = await presented(port, bundle);
          return c.checkIssued(freshCa) ? c : undefined;
        });
        expect(served.verify(freshCa.publicKey)).toBe(true);
        // A client that still trusts only the old CA cannot verify it: the published bundle is
        // what carries everyone across the rotation.
        await expect(presented(port, old.certPem)).rejects.toThrow();
      }
      expect(r.proc.exited()).toBe(false);
    }
  });
});
