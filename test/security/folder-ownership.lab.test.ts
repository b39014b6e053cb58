// Folder ownership on a shared ClusterDatasetStore (issue #16, ADR 0009), with the real controller,
// the real issuer over TLS and MinIO: a namespace cannot grant itself a folder another namespace
// already uses, `{namespace}` gives each namespace a folder of its own whose keys open only it,
// sharedPrefixes are open to all, and a folder is free again once its owner's accesses are gone.
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetAccess } from '../../src/api/v1alpha1/index.ts';
import { createLabClusterStore } from '../lab/valet.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { G, startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { World } from '../lab/world.ts';

let w: World;
const ref = { kind: 'ClusterDatasetStore', name: 'teams' };

async function conditionOf(name: string, ns: string) {
  await w.waitFor(`${ns}/${name} reconciled`, async () => (await w.readyOf(name, ns)) !== undefined);
  const a = (await w.clients.customObjects.getNamespacedCustomObject({ ...G, namespace: ns, plural: 'datasetaccesses', name })) as DatasetAccess;
  return a.status?.conditions?.find((c) => c.type === 'Ready');
}

async function keyFor(pod: string, ns: string, access: string) {
  const { token } = await w.podToken(pod, 'trainer', ns);
  return w.call('POST', '/v1/keys', { token, body: JSON.stringify({ accesses: [access] }) });
}

beforeAll(async () => {
  w = await startWorld({ ns: 'team-a', accesses: {} });
  await w.lab.core.createNamespace({ body: { metadata: { name: 'team-b', labels: { team: 'team-b' } } } });
  await w.lab.core.createNamespacedServiceAccount({ namespace: 'team-b', body: { metadata: { name: 'trainer' } } });
  await createLabClusterStore(w.lab, 'teams', ['team-a', 'team-b'], { allowedPrefixes: ['teams/{namespace}/', 'imagenet/', 'checkpoints/'], sharedPrefixes: ['imagenet/'], allowedVerbs: ['read', 'list', 'write'] });
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe('a folder on a shared cluster store', () => {
  it("belongs to the first namespace that claims it: another namespace's access is refused without naming the owner, and gets no key", async () => {
    await w.createAccess('ckpt', { storeRef: ref, prefix: 'checkpoints/', verbs: ['read', 'write'] }, 'team-a');
    expect(await conditionOf('ckpt', 'team-a')).toMatchObject({ status: 'True' });
    await w.createAccess('ckpt', { storeRef: ref, prefix: 'checkpoints/run-1/', verbs: ['read', 'write'] }, 'team-b');
    const refused = await conditionOf('ckpt', 'team-b');
    expect(refused).toMatchObject({ status: 'False', reason: 'FolderClaimedByOtherNamespace' });
    expect(refused?.message).not.toContain('team-a');
    const before = w.stsCalls.length;
    const r = await keyFor('b-0', 'team-b', 'ckpt');
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('team-a');
    expect(w.stsCalls.length).toBe(before);
  });

  it('is open to every namespace when the admin lists it in sharedPrefixes', async () => {
    await w.createAccess('imagenet', { storeRef: ref, prefix: 'imagenet/', verbs: ['read', 'list'] }, 'team-a');
    await w.createAccess('imagenet', { storeRef: ref, prefix: 'imagenet/', verbs: ['read', 'list'] }, 'team-b');
    expect(await conditionOf('imagenet', 'team-a')).toMatchObject({ status: 'True' });
    expect(await conditionOf('imagenet', 'team-b')).toMatchObject({ status: 'True' });
    expect((await keyFor('b-1', 'team-b', 'imagenet')).status).toBe(200);
  });

  it("with {namespace}, each namespace gets its own folder, and a key that writes only there", async () => {
    await w.createAccess('own', { storeRef: ref, prefix: 'teams/team-a/', verbs: ['read', 'write'] }, 'team-a');
    await w.createAccess('steal', { storeRef: ref, prefix: 'teams/team-a/', verbs: ['read', 'write'] }, 'team-b');
    expect(await conditionOf('own', 'team-a')).toMatchObject({ status: 'True' });
    expect(await conditionOf('steal', 'team-b')).toMatchObject({ status: 'False', reason: 'PrefixNotAllowed' });
    const r = await keyFor('a-0', 'team-a', 'own');
    expect(r.status, r.body).toBe(200);
    const c = r.json().keys?.[0]?.credentials;
    if (!c) throw new Error('no key');
    const s3 = new S3Client({ endpoint: w.lab.s3.endpoint, region: w.lab.s3.region, forcePathStyle: true, credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken } });
    try {
      await s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'teams/team-a/model.pt', Body: 'a' }));
      await expect(s3.send(new PutObjectCommand({ Bucket: w.lab.s3.bucket, Key: 'teams/team-b/model.pt', Body: 'a' }))).rejects.toMatchObject({ name: 'AccessDenied' });
    } finally {
      s3.destroy();
    }
  });

  it("is free again once its owner's access is gone: the waiting namespace's access turns Ready and gets a key", async () => {
    await w.clients.customObjects.deleteNamespacedCustomObject({ ...G, namespace: 'team-a', plural: 'datasetaccesses', name: 'ckpt' });
    await w.waitFor('team-b/ckpt Ready', async () => (await w.readyOf('ckpt', 'team-b'))?.status === 'True', 30_000);
    const r = await keyFor('b-2', 'team-b', 'ckpt');
    expect(r.status, r.body).toBe(200);
  });
});

describe('nothing left behind', () => {
  it('stops every process and removes every folder this suite made', async () => {
    expect(await stopAndListLeftovers(w)).toEqual([]);
  });
});
