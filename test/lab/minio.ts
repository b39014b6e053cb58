// MinIO on loopback: real S3, STS AssumeRole with an enforced session policy, and checked presigned
// URLs. The lab creates a bucket, seeds objects, and sets up an "issuer" user whose own policy lets
// it assume roles and reach the bucket: the long-term key Valet's issuer holds, never a pod.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { S3Client, CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { LabError } from './build.ts';
import { startProcess, waitReady, type ServerProcess } from './process.ts';

export const LAB_BUCKET = 'datasets';
export const LAB_REGION = 'us-east-1';

/** Seed objects: a dataset prefix, a sibling that must stay out of reach, and another prefix. */
export const SEED_OBJECTS: Record<string, string> = {
  'imagenet/a.bin': 'imagenet shard a',
  'imagenet/b.bin': 'imagenet shard b',
  'imagenet/train/0000.tar': 'imagenet train shard 0',
  'imagenet-private/a.bin': 'private: must never be readable with an imagenet key',
  'coco/a.bin': 'coco shard a',
  'root.txt': 'an object at the bucket root',
};

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface MinioCredentials {
  /** Root: used only by the lab itself to set MinIO up. */
  root: AccessKey;
  /** The issuer's long-term key: may AssumeRole and reach the lab bucket. */
  issuer: AccessKey;
}

/** The role ARN MinIO accepts for AssumeRole (MinIO ignores the role and uses the caller's policy). */
export const LAB_ROLE_ARN = 'arn:aws:iam::000000000000:role/valet-lab-issuer';

export function newCredentials(): MinioCredentials {
  const key = (n: number) => randomBytes(n).toString('base64url');
  return {
    root: { accessKeyId: `labroot${key(6)}`, secretAccessKey: key(30) },
    issuer: { accessKeyId: `valetissuer${key(6)}`, secretAccessKey: key(30) },
  };
}

function ready(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export interface MinioOptions {
  binary: string;
  dir: string;
  port: number;
  consolePort: number;
  credentials: MinioCredentials;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
  timeoutMs?: number;
}

export async function startMinio(o: MinioOptions): Promise<ServerProcess> {
  const data = join(o.dir, 'minio-data');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const proc = startProcess({
    name: 'minio',
    command: o.binary,
    args: ['server', data, '--address', `127.0.0.1:${o.port}`, '--console-address', `127.0.0.1:${o.consolePort}`, '--quiet'],
    env: {
      ...o.env,
      MINIO_ROOT_USER: o.credentials.root.accessKeyId,
      MINIO_ROOT_PASSWORD: o.credentials.root.secretAccessKey,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
      MINIO_REGION: LAB_REGION,
      MINIO_CI_CD: 'on',
    },
    log: join(o.dir, 'logs', 'minio.log'),
    detached: o.detached,
  });
  await waitReady(proc, () => ready(`http://127.0.0.1:${o.port}/minio/health/ready`), o.timeoutMs ?? 30_000);
  return proc;
}

function runAdmin(binary: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new LabError(`MinIO admin ${args[0]} failed: ${err.trim()}`))));
  });
}

/**
 * The issuer's own policy: everything on the lab bucket; session policies narrow it per key.
 * (MinIO lets any user call AssumeRole and has no sts:AssumeRole action to grant.)
 */
export function issuerPolicy(bucket: string): object {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:*'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
  };
}

/** Creates the bucket, the seed objects and the issuer user. */
export async function setUpMinio(o: { adminBinary: string; dir: string; port: number; credentials: MinioCredentials }): Promise<string> {
  const endpoint = `http://127.0.0.1:${o.port}`;
  const s3 = new S3Client({
    endpoint,
    region: LAB_REGION,
    forcePathStyle: true,
    credentials: o.credentials.root,
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: LAB_BUCKET }));
    for (const [Key, Body] of Object.entries(SEED_OBJECTS)) await s3.send(new PutObjectCommand({ Bucket: LAB_BUCKET, Key, Body }));
  } finally {
    s3.destroy();
  }
  const env = {
    MINIO_ENDPOINT: `127.0.0.1:${o.port}`,
    MINIO_ROOT_USER: o.credentials.root.accessKeyId,
    MINIO_ROOT_PASSWORD: o.credentials.root.secretAccessKey,
  };
  const policyFile = join(o.dir, 'issuer-policy.json');
  writeFileSync(policyFile, JSON.stringify(issuerPolicy(LAB_BUCKET)));
  await runAdmin(o.adminBinary, ['add-policy', 'valet-issuer', policyFile], env);
  await runAdmin(o.adminBinary, ['add-user', o.credentials.issuer.accessKeyId], { ...env, USER_SECRET: o.credentials.issuer.secretAccessKey });
  await runAdmin(o.adminBinary, ['attach', 'valet-issuer', o.credentials.issuer.accessKeyId], env);
  return runAdmin(o.adminBinary, ['version'], env);
}
