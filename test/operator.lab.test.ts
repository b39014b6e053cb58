// `valet operator` as a real process, wired as it ships: the controller makes an access Ready and
// the issuer in the same process turns a pod's bound token into a scoped key that MinIO honours.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Client, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createAuthority, issueCertificate } from '../src/tls/pki.ts';
import { allocatePorts, type ServerProcess } from './lab/process.ts';
import { useLabLogs } from './lab/vitest.ts';
import { startWorld, waitFor as until, type World } from './lab/world.ts';

const NS = 'ml';
let w: World;
let operator: ServerProcess;
let issuerUrl: string;
let agent: Agent;
let podUid = '';
let ca: Awaited<ReturnType<typeof createAuthority>>;
let tlsDir = '';

function post(path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${issuerUrl}${path}`, { method: 'POST', agent, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}


beforeAll(async () => {
  // The tenant, its store and access; the operator is this suite's own process, started below.
  w = await startWorld({ ns: NS, store: { allowedPrefixes: ['imagenet/'], allowedVerbs: ['read', 'list'] }, operator: false });
  podUid = (await w.podToken('trainer-0')).uid;
  await w.createAccess('imagenet', {});

  // A CA of the suite's own (not the world's): the second test signs a new certificate with it.
  ca = await createAuthority('valet-test-ca');
  const serving = await issueCertificate(ca, { commonName: 'valet-issuer', ipAddresses: ['127.0.0.1'], usage: 'server' });
  tlsDir = join(w.dir, 'issuer-tls');
  mkdirSync(tlsDir);
  writeFileSync(join(tlsDir, 'tls.crt'), serving.certPem);
  writeFileSync(join(tlsDir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
  agent = new Agent({ ca: ca.certPem });
  const ports = await allocatePorts(['issuer', 'metrics'] as const);
  issuerUrl = `https://127.0.0.1:${ports.issuer}`;
  operator = w.startOperatorProcess({ tlsDir, ports, identity: 'e2e', extraArgs: ['--tls-check-interval-seconds=1'] });
});
afterAll(async () => {
  agent?.destroy();
  await w?.stop();
});
useLabLogs(() => w);

describe('valet operator, as shipped', () => {
  it('refuses a request without a token, and hands a bound pod a key scoped to its grant', async () => {
    expect((await until('the issuer to listen', async () => (await post('/v1/keys')).status || undefined))).toBe(401);
    const token = await w.lab.token(NS, 'trainer', { boundPod: { name: 'trainer-0', uid: podUid } });
    const reply = await until('a key', async () => {
      const r = await post('/v1/keys', token);
      return r.status === 200 ? r : undefined;
    });
    const { keys } = JSON.parse(reply.body) as { keys: { access: string; prefix: string; credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }[] };
    expect(keys.map((k) => [k.access, k.prefix])).toEqual([['imagenet', 'imagenet/']]);
    const c = keys[0]?.credentials;
    if (!c) throw new Error('no credentials');
    const s3 = new S3Client({ endpoint: w.lab.s3.endpoint, region: w.lab.s3.region, forcePathStyle: true, credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken } });
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'imagenet/a.bin' }));
      expect(await got.Body?.transformToString()).toBe('imagenet shard a');
      await expect(s3.send(new GetObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'imagenet-private/a.bin' }))).rejects.toMatchObject({ name: 'AccessDenied' });
      await expect(s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'imagenet/x.bin', Body: 'x' }))).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      s3.destroy();
    }
    // The operator's log has the audit line, and none of the secrets it handled.
    const log = readFileSync(join(w.lab.logsDir, 'operator.log'), 'utf8');
    expect(log).toContain(c.AccessKeyId);
    for (const secret of [c.SecretAccessKey, c.SessionToken, token, w.lab.s3.issuer.secretAccessKey]) expect(log).not.toContain(secret);
  });

  it('picks up certificate files rewritten in place (as cert-manager does) without a restart', async () => {
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: Number(new URL(issuerUrl).port), ca: ca.certPem }, () => {
          const fp = new X509Certificate(socket.getPeerCertificate().raw).fingerprint256;
          socket.end();
          resolve(fp);
        });
        socket.on('error', reject);
      });
    const before = await served();
    const next = await issueCertificate(ca, { commonName: 'valet-issuer', ipAddresses: ['127.0.0.1'], usage: 'server' });
    // Write beside and rename, as the kubelet's atomic writer does for Secret volumes.
    writeFileSync(join(tlsDir, 'tls.key.new'), next.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(tlsDir, 'tls.crt.new'), next.certPem);
    renameSync(join(tlsDir, 'tls.key.new'), join(tlsDir, 'tls.key'));
    renameSync(join(tlsDir, 'tls.crt.new'), join(tlsDir, 'tls.crt'));
    const after = await until('the new certificate on the wire', async () => {
      const fp = await served();
      return fp !== before ? fp : undefined;
    });
    expect(after).toBe(new X509Certificate(next.certPem).fingerprint256);
    expect(operator.exited()).toBe(false);
  });
});
