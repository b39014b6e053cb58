// STS AssumeRole behind a one-method interface (STYLE.md habit 5), implemented with
// @aws-sdk/client-sts. One client per (endpoint, region, issuer credentials), reused; the SDK's own
// retries are off because the minter retries within the request deadline and the rate limit.
import { createHash } from 'node:crypto';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { StaticCredentials } from '../policy/index.ts';

export interface AssumeRoleParams {
  /** STS endpoint (S3-compatible stores); absent: AWS's regional endpoint. */
  endpoint?: string;
  region: string;
  /** The issuer's own credentials for this store. */
  credentials: StaticCredentials | 'defaultChain';
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  policy: string;
  externalId?: string;
  sourceIdentity?: string;
  tags?: { Key: string; Value: string }[];
}

/** A minted key. SecretAccessKey and SessionToken are secrets: never log them. */
export interface AssumedKey {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface Sts {
  assumeRole(params: AssumeRoleParams, signal?: AbortSignal): Promise<AssumedKey>;
}

export interface AwsStsOptions {
  /** TCP connect timeout per attempt. Default 2 s. */
  connectionTimeoutMs?: number;
  /** Response timeout per attempt. Default 5 s. */
  requestTimeoutMs?: number;
  /** Clients kept (least recently used dropped). Default 64. */
  maxClients?: number;
}

/** @aws-sdk/client-sts, one client per endpoint + region + credentials. Call `destroy` on shutdown. */
export class AwsSts implements Sts {
  private readonly clients = new Map<string, STSClient>();
  private readonly opts: Required<AwsStsOptions>;

  constructor(opts: AwsStsOptions = {}) {
    this.opts = { connectionTimeoutMs: opts.connectionTimeoutMs ?? 2000, requestTimeoutMs: opts.requestTimeoutMs ?? 5000, maxClients: opts.maxClients ?? 64 };
  }

  async assumeRole(p: AssumeRoleParams, signal?: AbortSignal): Promise<AssumedKey> {
    const out = await this.client(p).send(
      new AssumeRoleCommand({
        RoleArn: p.roleArn,
        RoleSessionName: p.roleSessionName,
        DurationSeconds: p.durationSeconds,
        Policy: p.policy,
        ExternalId: p.externalId,
        SourceIdentity: p.sourceIdentity,
        Tags: p.tags,
      }),
      { abortSignal: signal },
    );
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
      throw Object.assign(new Error('AssumeRole answered without complete credentials'), { name: 'IncompleteCredentials', $metadata: { httpStatusCode: 502 } });
    }
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  }

  /** Clients currently kept. */
  size(): number {
    return this.clients.size;
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }

  private client(p: AssumeRoleParams): STSClient {
    const who = p.credentials === 'defaultChain' ? 'defaultChain' : createHash('sha256').update(`${p.credentials.accessKeyId}\0${p.credentials.secretAccessKey}`).digest('hex');
    const key = `${p.endpoint ?? ''}\0${p.region}\0${who}`;
    const found = this.clients.get(key);
    if (found) {
      this.clients.delete(key); // re-insert: the map stays in least-recently-used order
      this.clients.set(key, found);
      return found;
    }
    const client = new STSClient({
      region: p.region,
      ...(p.endpoint ? { endpoint: p.endpoint } : {}),
      ...(p.credentials === 'defaultChain' ? {} : { credentials: { accessKeyId: p.credentials.accessKeyId, secretAccessKey: p.credentials.secretAccessKey } }),
      maxAttempts: 1,
      requestHandler: { connectionTimeout: this.opts.connectionTimeoutMs, requestTimeout: this.opts.requestTimeoutMs },
    });
    this.clients.set(key, client);
    while (this.clients.size > this.opts.maxClients) {
      const oldest = this.clients.keys().next().value;
      if (oldest === undefined) break;
      this.clients.get(oldest)?.destroy();
      this.clients.delete(oldest);
    }
    return client;
  }
}

export type StsFailure = 'throttled' | 'unavailable' | 'server' | 'rejected' | 'aborted';

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'ThrottledException', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown', 'RequestThrottled', 'RequestThrottledException', 'PriorRequestNotComplete']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/** What kind of failure an STS error is: decides retry and the answer's code. */
export function classifyStsError(err: unknown): StsFailure {
  const e = (err ?? {}) as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown }; $retryable?: { throttling?: unknown }; cause?: { code?: unknown } };
  const name = typeof e.name === 'string' ? e.name : '';
  if (name === 'AbortError') return 'aborted';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (THROTTLING.has(name) || status === 429 || e.$retryable?.throttling === true) return 'throttled';
  if (status !== undefined && status >= 500) return 'server';
  if (status !== undefined && status >= 400) return 'rejected';
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
  if (NETWORK.has(code) || name === 'TimeoutError' || name === 'RequestTimeout' || name === 'NetworkingError') return 'unavailable';
  // No HTTP status at all: the request never got an answer.
  if (status === undefined) return 'unavailable';
  return 'server';
}

/** The STS error's name (e.g. AccessDenied), safe for messages: never its text, which may echo input. */
export function stsErrorName(err: unknown): string {
  const name = (err as { name?: unknown } | undefined)?.name;
  const code = (err as { code?: unknown } | undefined)?.code;
  const s = typeof code === 'string' && /^E[A-Z_]+$/.test(code) ? code : typeof name === 'string' ? name : 'Error';
  return s.replace(/[^\w.-]/g, '').slice(0, 64) || 'Error';
}
