// The inline session policy passed to STS AssumeRole. The key can do only what both the role's
// own policy and this policy allow, so this policy is the grant: least privilege, one folder.
import { LIMITS, PATTERNS, VERBS } from '../api/v1alpha1/index.ts';
import type { DatasetAccessSpec, S3Source, Verb } from '../api/v1alpha1/index.ts';
import { checkPrefix } from './prefix.ts';
import { quote } from './result.ts';

/**
 * The S3 actions each verb grants. Object actions apply to `arn:…:s3:::bucket/prefix*`; bucket
 * actions to the bucket, limited to the folder by an `s3:prefix` condition.
 *
 * - read: GetObject serves GET and HEAD, including ranged reads (a Range header needs nothing
 *   more); GetObjectVersion serves reads of a given versionId on versioned buckets.
 * - list: ListBucket (ListObjects/ListObjectsV2) with `s3:prefix` StringLike `<prefix>*`. That one
 *   pattern also matches `<prefix>` itself (`*` matches the empty string), so `[<prefix>,
 *   <prefix>*]` would say the same in more characters. A list whose prefix is not inside the
 *   folder (no prefix, `imagenet`, `imagenet-private/`) is refused.
 * - write: PutObject serves PUT, CopyObject's destination and every multipart step (Create,
 *   UploadPart, UploadPartCopy, Complete); AbortMultipartUpload and ListMultipartUploadParts (ListParts)
 *   let SDK upload managers clean up and resume. s3:ListBucketMultipartUploads is deliberately not
 *   granted: it does not support the s3:prefix condition key (AWS would never match the condition,
 *   and MinIO refuses the whole policy), and unconditioned it would reveal the in-flight upload keys
 *   of the entire bucket. No SDK upload path (lib-storage Upload, boto3 upload_file, aws s3 cp)
 *   needs it.
 * - delete: DeleteObject (DeleteObjects batches are authorised per key as DeleteObject). Not
 *   DeleteObjectVersion: on a versioned bucket DeleteObject only adds a delete marker, so data
 *   stays recoverable; permanently destroying versions is left to admins.
 */
export const ACTIONS: Readonly<Record<Verb, { readonly object: readonly string[]; readonly bucket: readonly string[] }>> = {
  read: { object: ['s3:GetObject', 's3:GetObjectVersion'], bucket: [] },
  list: { object: [], bucket: ['s3:ListBucket'] },
  write: { object: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], bucket: [] },
  delete: { object: ['s3:DeleteObject'], bucket: [] },
};

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string;
  Condition?: { StringLike: { 's3:prefix': string } };
}

export interface SessionPolicy {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export type RenderResult =
  | { ok: true; policy: string; packedSize: number; document: SessionPolicy }
  | { ok: false; reason: 'PolicyTooLarge'; message: string; packedSize: number }
  | { ok: false; reason: 'PrefixInvalid' | 'PolicyInvalid'; message: string };

/** What rendering reads from a store and an access; the full objects fit. */
export interface PolicyStoreInput {
  spec: Pick<S3Source, 'bucket' | 'roleArn'>;
}
export interface PolicyAccessInput {
  spec: Pick<DatasetAccessSpec, 'prefix' | 'verbs'>;
}

const bucketPattern = new RegExp(PATTERNS.bucket);

/**
 * The ARN partition for S3 resources: the role's partition when it is an AWS one (aws-cn,
 * aws-us-gov, …), otherwise `aws`, which S3-compatible stores such as MinIO expect even though
 * their role ARNs read `arn:minio:iam:::role/…`.
 */
export function s3Partition(roleArn: string): string {
  const partition = /^arn:([a-z][a-z0-9-]*):/.exec(roleArn)?.[1];
  return partition !== undefined && /^aws(-[a-z0-9]+)*$/.test(partition) ? partition : 'aws';
}

/**
 * Renders the least-privilege session policy for `access` on `store` as compact JSON with a fixed
 * key and statement order and sorted actions, so the same input always gives the same bytes
 * (status is then rewritten only when the grant really changes).
 *
 * packedSize is the length of that JSON in characters (all ASCII, so also bytes). STS limits the
 * plain-text inline policy to 2,048 characters; AWS also reports a separate, compressed
 * "PackedPolicySize" percentage (policy plus session tags) that this function cannot know, and
 * which a policy this small does not approach without many session tags.
 */
export function renderSessionPolicy(store: PolicyStoreInput, access: PolicyAccessInput): RenderResult {
  const { bucket, roleArn } = store.spec;
  const { prefix } = access.spec;
  if (typeof bucket !== 'string' || !bucketPattern.test(bucket)) {
    return { ok: false, reason: 'PolicyInvalid', message: `store spec.bucket ${quote(String(bucket))} is not a valid bucket name` };
  }
  const p = checkPrefix(prefix);
  if (!p.ok) return p;
  const requested = new Set<string>(access.spec.verbs ?? []);
  const unknown = [...requested].filter((v) => !(VERBS as readonly string[]).includes(v));
  if (unknown.length > 0) {
    return { ok: false, reason: 'PolicyInvalid', message: `spec.verbs contains unknown verb ${quote(unknown[0] ?? '')}; known are ${VERBS.join(', ')}` };
  }
  const verbs = VERBS.filter((v) => requested.has(v));
  if (verbs.length === 0) return { ok: false, reason: 'PolicyInvalid', message: 'spec.verbs must name at least one verb' };

  const partition = s3Partition(roleArn);
  const objectActions = [...new Set(verbs.flatMap((v) => ACTIONS[v].object))].sort();
  const bucketActions = [...new Set(verbs.flatMap((v) => ACTIONS[v].bucket))].sort();
  const statements: PolicyStatement[] = [];
  if (objectActions.length > 0) {
    statements.push({ Sid: 'Objects', Effect: 'Allow', Action: objectActions, Resource: `arn:${partition}:s3:::${bucket}/${prefix}*` });
  }
  if (bucketActions.length > 0) {
    statements.push({
      Sid: 'List',
      Effect: 'Allow',
      Action: bucketActions,
      Resource: `arn:${partition}:s3:::${bucket}`,
      Condition: { StringLike: { 's3:prefix': `${prefix}*` } },
    });
  }
  const document: SessionPolicy = { Version: '2012-10-17', Statement: statements };
  const policy = JSON.stringify(document);
  if (policy.length > LIMITS.maxSessionPolicyChars) {
    return {
      ok: false,
      reason: 'PolicyTooLarge',
      packedSize: policy.length,
      message: `the session policy for spec.prefix (${prefix.length} characters) and spec.verbs [${verbs.join(', ')}] is ${policy.length} characters; STS accepts at most ${LIMITS.maxSessionPolicyChars}. Use a shorter prefix`,
    };
  }
  return { ok: true, policy, packedSize: policy.length, document };
}
