// The operator's own TLS with no cert-manager: two real `valet operator` replicas agree on one CA
// and certificate kept in a Secret, publish the CA (webhook caBundle, a ConfigMap per namespace,
// new namespaces included), renew a certificate inside its renewal window without a restart, and
// rotate a CA near its end while the old one stays trusted beside it.
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { applyMutatingWebhookConfiguration } from '../src/k8s/webhook-config.ts';
import { authorityFromPem, createAuthority, issueCertificate } from '../src/tls/pki.ts';
import { podWebhookConfiguration } from '../src/webhook/index.ts';
import { allocatePorts, type ServerProcess } from './lab/process.ts';
import { useLabLogs } from './lab/vitest.ts';
import { LAB_VALET_NAMESPACE as NS, startWorld, waitFor as until, type World } from './lab/world.ts';

const DNS = 'valet.valet-system.svc';
let w: World;
const replicas: { proc: ServerProcess; issuerPort: number; webhookPort: number }[] = [];

async function startReplica(id: string): Promise<void> {
  const ports = await allocatePorts(['issuer', 'webhook', 'metrics'] as const);
  // `valet operator` as its own process, keeping its own CA and certificate in the Secret valet-tls.
  const proc = w.startOperatorProcess({
    ports,
    identity: id,
    tlsSecret: 'valet-tls',
    log: `operator-${id}.log`,
    extraArgs: ['--tls-check-interval-seconds=1', '--sidecar-image=valet:test', `--sidecar-issuer-url=https://${DNS}:8443`],
  });
  replicas.push({ proc, issuerPort: ports.issuer, webhookPort: ports.webhook });
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
  const s = await w.lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
  return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
}

beforeAll(async () => {
  w = await startWorld({ lab: { minio: false }, ns: 'team-a', serviceAccounts: [], store: false, operator: false });
  // As the chart installs it: the caBundle is a placeholder until the operator fills it in.
  const placeholder = await createAuthority('placeholder');
  await applyMutatingWebhookConfiguration(w.lab.kubeConfig, podWebhookConfiguration({ caPem: placeholder.certPem, service: { namespace: NS, name: 'valet', port: 9443 }, excludeNamespaces: [NS] }));
  await startReplica('a');
  await startReplica('b');
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

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
    const admission = w.lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    await until('the caBundle', async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      return Buffer.from(mwc.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString() === ca ? true : undefined;
    });
    for (const namespace of ['team-a', 'default', NS]) {
      const cm = await until(`the CA ConfigMap in ${namespace}`, () => w.lab.core.readNamespacedConfigMap({ namespace, name: 'valet-issuer-ca' }));
      expect(cm.data?.['ca.crt']).toBe(ca);
    }
    await w.lab.core.createNamespace({ body: { metadata: { name: 'team-new' } } });
    const fresh = await until('the CA ConfigMap in a new namespace', () => w.lab.core.readNamespacedConfigMap({ namespace: 'team-new', name: 'valet-issuer-ca' }), 15_000);
    expect(fresh.data?.['ca.crt']).toBe(ca);
  });

  it('renews a certificate inside its renewal window and serves the new one without a restart', async () => {
    const s = await secret();
    const ca = await authorityFromPem(s['ca.crt'] ?? '', s['ca.key'] ?? '');
    // What an aging deployment looks like: a certificate with one day left (window: 30 days).
    const aging = await issueCertificate(ca, { commonName: DNS, dnsNames: [DNS], usage: 'server', validDays: 1 });
    const current = await w.lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
    await w.lab.core.replaceNamespacedSecret({
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
    const current = await w.lab.core.readNamespacedSecret({ namespace: NS, name: 'valet-tls' });
    await w.lab.core.replaceNamespacedSecret({
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

    const admission = w.lab.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    const caBundle = await until('the rotated caBundle', async () => {
      const mwc = await admission.readMutatingWebhookConfiguration({ name: 'valet' });
      const pem = Buffer.from(mwc.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString();
      return pem.includes(fresh) ? pem : undefined;
    });
    expect(caBundle).toBe(bundle);
    for (const namespace of ['team-a', 'team-new']) {
      const cm = await until(`the rotated bundle in ${namespace}`, async () => {
        const got = await w.lab.core.readNamespacedConfigMap({ namespace, name: 'valet-issuer-ca' });
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
