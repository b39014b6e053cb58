// What `valet doctor` decides, as pure functions of what it read: the environment of the app
// process, whether the token file and a shared credentials file exist, the sidecar's answer and
// the store's clock. Each problem says what is wrong and the fix; each SDK family says whether it
// will find Valet's keys and, if not, why. The credential chains are the SDKs' own, as of the
// versions docs/clients.md lists.
import { COMPETING_ENV } from '../injection/constants.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Finding {
  level: 'ok' | 'warn' | 'problem';
  what: string;
  /** What to do, for warn and problem. */
  fix?: string;
}

export interface FamilyVerdict {
  family: string;
  clients: string;
  ok: boolean;
  why: string;
}

export interface Facts {
  env: Env;
  /** The token file's content, or undefined when it is missing or unreadable. */
  tokenFile?: string;
  /** A shared credentials or config file that holds keys or a role (path), if one exists. */
  sharedCredentialsFile?: string;
}

const FULL_URI = 'AWS_CONTAINER_CREDENTIALS_FULL_URI';
const TOKEN = 'AWS_CONTAINER_AUTHORIZATION_TOKEN';
const TOKEN_FILE = 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE';

const set = (env: Env, name: string) => (env[name] ?? '') !== '';

/** A host the AWS C++ SDK accepts for a full URI over http: a loopback literal or the ECS/EKS addresses. */
export function cppAcceptsHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return /^127(\.\d{1,3}){3}$/.test(h) || h === '::1' || h === '169.254.170.2' || h === '169.254.170.23' || h.toLowerCase() === 'fd00:ec2::23';
}

/** Loopback as botocore, the JS and Go SDKs accept it for plain http. */
function loopbackHost(host: string): boolean {
  return cppAcceptsHost(host) || host.toLowerCase() === 'localhost';
}

/** Problems and notes about the environment alone. */
export function checkEnvironment(f: Facts): Finding[] {
  const { env } = f;
  const out: Finding[] = [];
  const competing = COMPETING_ENV.filter((n) => set(env, n));
  if (set(env, 'AWS_ACCESS_KEY_ID') || set(env, 'AWS_SECRET_ACCESS_KEY')) {
    out.push({ level: 'problem', what: 'static keys are in the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): every SDK uses them before Valet\'s', fix: 'remove them from the container (they may come from envFrom), or name the container in valet.dev/skip-containers if it should keep its own keys' });
  }
  if (set(env, 'AWS_PROFILE') || set(env, 'AWS_DEFAULT_PROFILE')) out.push({ level: 'problem', what: 'AWS_PROFILE (or AWS_DEFAULT_PROFILE) is set: SDKs read that profile from the shared files first, and fail if it does not exist', fix: 'unset it in the container' });
  if (set(env, 'AWS_WEB_IDENTITY_TOKEN_FILE') && set(env, 'AWS_ROLE_ARN')) out.push({ level: 'problem', what: 'AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are set (IRSA): SDKs assume that role before asking Valet', fix: 'remove the eks.amazonaws.com/role-arn annotation from the service account, or unset both variables' });
  if (set(env, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI')) out.push({ level: 'problem', what: 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is set: every SDK prefers it to the full URI Valet gives', fix: 'unset it in the container' });
  if (competing.length > 0 && out.length === 0) out.push({ level: 'warn', what: `${competing.join(', ')} set`, fix: 'unset them: alone they do nothing, but they show something meant to use other keys' });
  if (f.sharedCredentialsFile) out.push({ level: 'problem', what: `${f.sharedCredentialsFile} holds keys or a role: botocore, the JS, Go, Java and C++ SDKs use it before container credentials`, fix: 'remove the file from the image, or set AWS_SHARED_CREDENTIALS_FILE=/dev/null' });

  const uri = env[FULL_URI];
  if (!uri) {
    out.push({ level: 'problem', what: `${FULL_URI} is not set: no SDK will ask Valet's sidecar`, fix: 'label the pod valet.dev/inject: "true" and check the container is not in valet.dev/skip-containers; run this inside the app container (or with --pid)' });
  } else {
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      out.push({ level: 'problem', what: `${FULL_URI} is not a URL`, fix: 'let the webhook set it: remove it from the pod spec' });
    }
    if (url && url.protocol === 'http:' && !cppAcceptsHost(url.hostname)) {
      out.push({ level: 'problem', what: `${FULL_URI} uses host ${url.hostname}: the AWS C++ SDK (pyarrow) accepts only a loopback literal such as 127.0.0.1`, fix: `use http://127.0.0.1:${url.port || '80'}${url.pathname}` });
    }
  }
  const token = env[TOKEN];
  if (!set(env, TOKEN_FILE)) out.push({ level: 'problem', what: `${TOKEN_FILE} is not set: botocore, the JS and C++ SDKs and object_store send no Authorization`, fix: 'let the webhook set it' });
  else if (f.tokenFile === undefined) out.push({ level: 'problem', what: `${env[TOKEN_FILE]} (${TOKEN_FILE}) cannot be read`, fix: 'check the container mounts the valet-shared volume (the webhook adds it) and runs as a user that may read it' });
  else if (f.tokenFile === '') out.push({ level: 'problem', what: `${env[TOKEN_FILE]} is empty`, fix: 'the sidecar has not started: check its log (kubectl logs <pod> -c valet-sidecar)' });
  if (!token) out.push({ level: 'warn', what: `${TOKEN} is not set: the Go SDK v1 (s5cmd) and the Java SDK v2 find no key`, fix: 'recreate the pod with the current Valet webhook, which sets it' });
  else if (f.tokenFile && token !== f.tokenFile) out.push({ level: 'problem', what: `${TOKEN} and the token file differ: SDKs reading one or the other get different answers`, fix: 'remove the pod spec\'s own value; the webhook sets both to the same token' });
  if (!set(env, 'AWS_REGION') && !set(env, 'AWS_DEFAULT_REGION')) out.push({ level: 'warn', what: 'neither AWS_REGION nor AWS_DEFAULT_REGION is set', fix: 'set spec.s3.region on the store (the webhook then sets both), or set them in the pod spec' });
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  if (endpoint) {
    out.push({
      level: 'ok',
      what: `endpoint ${endpoint}: pyarrow, s3torchconnector, s5cmd and rclone ignore the variable; pass it in code (docs/clients.md has each one line)`,
    });
  }
  return out;
}

/** Whether each SDK family finds Valet's keys in this environment, and why not. */
export function sdkFamilies(f: Facts): FamilyVerdict[] {
  const { env } = f;
  const staticKeys = set(env, 'AWS_ACCESS_KEY_ID') && set(env, 'AWS_SECRET_ACCESS_KEY');
  const profile = set(env, 'AWS_PROFILE') || set(env, 'AWS_DEFAULT_PROFILE');
  const webIdentity = set(env, 'AWS_WEB_IDENTITY_TOKEN_FILE') && set(env, 'AWS_ROLE_ARN');
  const relative = set(env, 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI');
  const shared = f.sharedCredentialsFile !== undefined;
  let host = '';
  try {
    host = new URL(env[FULL_URI] ?? '').hostname;
  } catch {
    host = '';
  }
  const fileToken = f.tokenFile !== undefined && f.tokenFile !== '';
  const plainToken = set(env, TOKEN);
  const families: { family: string; clients: string; reads: 'file' | 'plain' | 'plain-first' | 'file-first'; shared: boolean; cppHost?: boolean; webIdentity: boolean }[] = [
    { family: 'botocore', clients: 'boto3, awscli, s3fs/pandas', reads: 'file-first', shared: true, webIdentity: true },
    { family: 'AWS SDK for JavaScript v3', clients: 'Node.js apps', reads: 'file-first', shared: true, webIdentity: true },
    { family: 'AWS C++ SDK', clients: 'pyarrow, Ray Data, DuckDB via Arrow', reads: 'file-first', shared: true, cppHost: true, webIdentity: true },
    { family: 'AWS SDK for Go v2', clients: 'Go programs', reads: 'file-first', shared: true, webIdentity: true },
    { family: 'AWS SDK for Go v1', clients: 's5cmd', reads: 'plain', shared: true, webIdentity: true },
    { family: 'AWS SDK for Java v2', clients: 'Spark, Trino', reads: 'plain-first', shared: true, webIdentity: true },
    { family: 'object_store (Rust)', clients: 'polars, delta-rs, lance', reads: 'file', shared: false, webIdentity: true },
  ];
  return families.map((fam) => {
    const verdict = (ok: boolean, why: string): FamilyVerdict => ({ family: fam.family, clients: fam.clients, ok, why });
    if (staticKeys) return verdict(false, 'uses the static keys in the environment');
    if (profile && fam.shared) return verdict(false, 'uses the profile AWS_PROFILE names');
    if (shared && fam.shared) return verdict(false, 'uses the shared credentials file');
    if (webIdentity && fam.webIdentity) return verdict(false, 'assumes the web-identity role');
    if (relative) return verdict(false, 'asks the relative URI (ECS), not Valet');
    if (!host) return verdict(false, `${FULL_URI} is not set`);
    if (fam.cppHost && !cppAcceptsHost(host)) return verdict(false, `refuses host ${host} (only a loopback literal)`);
    if (!loopbackHost(host)) return verdict(false, `refuses plain http to ${host}`);
    const hasToken = fam.reads === 'file' ? fileToken : fam.reads === 'plain' ? plainToken : fileToken || plainToken;
    if (!hasToken) return verdict(false, fam.reads === 'plain' ? `reads only ${TOKEN}, which is not set` : fam.reads === 'file' ? `reads only ${TOKEN_FILE}, which is missing or empty` : 'finds no authorization token');
    return verdict(true, `asks ${host}`);
  });
}

export interface SidecarAnswer {
  status: number;
  body: string;
}

/** What the sidecar's answer to the credentials URI says. Never repeats a key. */
export function checkSidecar(answer: SidecarAnswer | Error, nowMs: number): Finding {
  if (answer instanceof Error) return { level: 'problem', what: `the sidecar did not answer: ${answer.message}`, fix: 'check the valet-sidecar container is running (kubectl describe pod) and this is the same pod' };
  let body: { AccessKeyId?: string; Expiration?: string; error?: { code?: string; message?: string } } = {};
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    body = {};
  }
  if (answer.status !== 200) {
    const code = body.error?.code ?? `HTTP ${answer.status}`;
    const fixes: Record<string, string> = {
      Unauthorized: 'the token this environment sends is not the sidecar\'s: remove the pod spec\'s own AWS_CONTAINER_AUTHORIZATION_TOKEN*, or recreate the pod',
      NoDefaultAccess: 'set the pod annotation valet.dev/default-access, or use $AWS_CONTAINER_CREDENTIALS_FULL_URI/<access>',
      WrongProvider: 'this access is azureBlob or gcs: use /v1/presign or the loader URLs',
      KeyRefused: 'kubectl describe datasetaccess: the access is not Ready, or does not name this pod\'s service account',
    };
    return { level: 'problem', what: `the sidecar answered ${code}: ${(body.error?.message ?? '').slice(0, 300)}`, fix: fixes[code] ?? 'see docs/errors.md for the code' };
  }
  const expires = Date.parse(body.Expiration ?? '');
  if (!body.AccessKeyId || Number.isNaN(expires)) return { level: 'problem', what: 'the sidecar answered 200 without a key in the container-credentials format', fix: 'check the sidecar\'s log' };
  const minutes = (expires - nowMs) / 60_000;
  if (minutes <= 0) return { level: 'problem', what: `the key's Expiration (${body.Expiration}) is in the past on this clock`, fix: 'this clock is wrong (see the clock check), or the sidecar cannot refresh (see its log)' };
  return { level: 'ok', what: `the sidecar serves a key, valid for ${minutes >= 10 ? Math.round(minutes) : minutes.toFixed(1)} more minutes` };
}

/** Skew between this clock and the store's Date header. SigV4 refuses requests more than 15 min off. */
export function checkSkew(storeUrl: string, storeDate: string | undefined | Error, nowMs: number): Finding {
  if (storeDate instanceof Error) return { level: 'warn', what: `could not reach the store at ${storeUrl} to compare clocks: ${storeDate.message}`, fix: 'check the network path to the store (NetworkPolicy, DNS)' };
  const t = storeDate ? Date.parse(storeDate) : NaN;
  if (Number.isNaN(t)) return { level: 'warn', what: `the store at ${storeUrl} sent no Date header to compare clocks with` };
  const skew = (nowMs - t) / 1000;
  const text = `this clock is ${Math.abs(skew).toFixed(1)} s ${skew >= 0 ? 'ahead of' : 'behind'} the store's`;
  // The Date header has a resolution of one second.
  if (Math.abs(skew) > 900) return { level: 'problem', what: `${text}: signed requests are refused beyond 15 minutes`, fix: 'fix the node\'s time sync (chrony/ntp)' };
  if (Math.abs(skew) > 60) return { level: 'warn', what: `${text}: keys and URLs expire early or late by as much`, fix: 'fix the node\'s time sync (chrony/ntp)' };
  return { level: 'ok', what: text };
}
