// The Kubernetes clients Valet uses, built from one KubeConfig. src/cli decides where the
// configuration comes from and passes it here; nothing below reads the environment itself.
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  HttpMethod,
  KubeConfig,
  RequestContext,
  ResponseContext,
  ServerConfiguration,
  setHeaderMiddleware,
  wrapHttpLibrary,
} from '@kubernetes/client-node';
import type { ApiConstructor, ApiType, CoreV1Event, HttpLibrary } from '@kubernetes/client-node';
import type { EventPoster } from './events.ts';
import type { StatusApi } from './status.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type DispatchMethod = Parameters<Dispatcher['request']>[0]['method'];
type BodyReadable = Awaited<ReturnType<Dispatcher['request']>>['body'];

/**
 * A KubeConfig whose API calls share one connection pool. client-node 2.0.1 builds a new undici
 * Agent for every call (in applySecurityAuthentication), so every TokenReview and pod read of a
 * 1,000-pod job start opened its own TLS connection to the API server: the benchmark saw 6 s per
 * TokenReview and most requests time out. The pool carries only TLS settings (CA, client
 * certificate), which do not change for a KubeConfig; bearer tokens are still set per request.
 */
export class PooledKubeConfig extends KubeConfig {
  private pool: Dispatcher | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (!made) return;
    if (!this.pool) {
      this.pool = made;
      return;
    }
    context.setDispatcher(this.pool);
    // The Agent made for this call has opened nothing yet; close it so it holds no resources.
    if (made !== this.pool) void made.close().catch(() => undefined);
  }

  /** As KubeConfig's, with client-node's fetch transport swapped for `dispatcherHttpLibrary`. */
  override makeApiClient<T extends ApiType>(apiClientType: ApiConstructor<T>): T {
    const cluster = this.getCurrentCluster();
    if (!cluster) throw new Error('No active cluster!');
    return new apiClientType(
      createConfiguration({
        baseServer: new ServerConfiguration(cluster.server, {}),
        authMethods: { default: this },
        middleware: [setHeaderMiddleware('User-Agent', USER_AGENT)],
        httpApi: dispatcherHttpLibrary,
      }),
    );
  }
}

/** What client-node's own makeApiClient sends. */
const USER_AGENT = 'kubernetes-client-javascript/2.0.1';

/**
 * client-node's HTTP layer without WHATWG fetch: the request goes to the undici dispatcher that
 * applySecurityAuthentication chose (the pool, for a PooledKubeConfig) through its own request()
 * API, and the answer is a Node stream read only as far as the caller asks. client-node's
 * IsomorphicFetchHttpLibrary wraps every call in fetch's Request and Response: web streams, a
 * clone of the request with its body teed, and more; under the #17 burst (10,000 status writes and
 * Events while the API server answers slowly) that per-call state lived long enough to be promoted,
 * and was most of what filled the old generation (docs/performance.md §5).
 */
async function dispatch(ctx: RequestContext): Promise<{ status: number; headers: Record<string, string>; body: BodyReadable }> {
  const dispatcher = ctx.getDispatcher();
  if (!dispatcher) throw new Error(`no HTTP dispatcher for ${ctx.getHttpMethod()} (applySecurityAuthentication set none)`);
  const url = new URL(ctx.getUrl());
  const body = ctx.getBody();
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body)) throw new Error('only string or Buffer request bodies are supported');
  const res = await dispatcher.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: ctx.getHttpMethod() as DispatchMethod,
    headers: ctx.getHeaders(),
    body: body ?? null,
    signal: ctx.getSignal(),
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: res.statusCode, headers, body: res.body };
}

/** An HttpLibrary (client-node's transport interface) over `dispatch`. */
export const dispatcherHttpLibrary: HttpLibrary = wrapHttpLibrary({
  async send(ctx: RequestContext): Promise<ResponseContext> {
    const { status, headers, body } = await dispatch(ctx);
    return new ResponseContext(status, headers, {
      text: () => body.text(),
      binary: async () => Buffer.from(await body.arrayBuffer()),
      stream: () => Readable.toWeb(body) as ReadableStream<Uint8Array>,
    });
  },
});

/**
 * One request with the KubeConfig's credentials (and, for a PooledKubeConfig, its pool), without
 * client-node's model (de)serialisation. Resolves with the answer's body, unread, on 2xx; a failure
 * rejects with client-node's ApiException (its `code` the HTTP status), as the generated clients do.
 */
async function send(kc: KubeConfig, method: 'PUT' | 'POST', path: string, body: string): Promise<BodyReadable> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('No active cluster!');
  const ctx = new RequestContext(server + path, HttpMethod[method]);
  ctx.setHeaderParam('Content-Type', 'application/json');
  ctx.setHeaderParam('Accept', 'application/json');
  // As the generated clients send it: the API server names the field manager after it.
  ctx.setHeaderParam('User-Agent', USER_AGENT);
  ctx.setBody(body);
  await kc.applySecurityAuthentication(ctx);
  const res = await dispatch(ctx);
  if (res.status >= 200 && res.status < 300) return res.body;
  // A failure's body is a small Status: its message says why (no credentials are in it).
  const text = await res.body.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // not JSON: keep the text
  }
  throw new ApiException(res.status, message, text, res.headers);
}

/** `send`, the answer discarded as it arrives, never turned into a string or an object. */
export async function sendDiscardingAnswer(kc: KubeConfig, method: 'PUT' | 'POST', path: string, body: string): Promise<void> {
  await (await send(kc, method, path, body)).dump({ limit: Number.MAX_SAFE_INTEGER });
}

/** client-node's CustomObjectsApi, plus status writes with a small body, the answer unread (src/k8s/status.ts). */
export class ValetCustomObjectsApi extends CustomObjectsApi implements StatusApi {
  private kubeConfig: KubeConfig | undefined;

  static make(kc: KubeConfig): ValetCustomObjectsApi {
    const api = kc.makeApiClient(ValetCustomObjectsApi);
    api.kubeConfig = kc;
    return api;
  }

  replaceStatus(path: string, body: string): Promise<void> {
    if (!this.kubeConfig) throw new Error('ValetCustomObjectsApi made without ValetCustomObjectsApi.make');
    return sendDiscardingAnswer(this.kubeConfig, 'PUT', path, body);
  }
}

/**
 * client-node's CoreV1Api, plus Events created from plain JSON with only their name read back
 * (src/k8s/events.ts): 5,000 Ready transitions are 5,000 Events, each of which went through
 * client-node's CoreV1Event model both ways.
 */
export class ValetCoreV1Api extends CoreV1Api implements EventPoster {
  private kubeConfig: KubeConfig | undefined;

  static make(kc: KubeConfig): ValetCoreV1Api {
    const api = kc.makeApiClient(ValetCoreV1Api);
    api.kubeConfig = kc;
    return api;
  }

  async createEventNamed(namespace: string, event: CoreV1Event): Promise<string | undefined> {
    if (!this.kubeConfig) throw new Error('ValetCoreV1Api made without ValetCoreV1Api.make');
    const answer = await send(this.kubeConfig, 'POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, JSON.stringify(event));
    return (JSON.parse(await answer.text()) as { metadata?: { name?: string } }).metadata?.name;
  }
}

export interface K8sClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api & EventPoster;
  customObjects: CustomObjectsApi & StatusApi;
  coordination: CoordinationV1Api;
}

export interface KubeConfigSource {
  /** A kubeconfig file. */
  path?: string;
  /** The pod's service account (in-cluster). */
  inCluster?: boolean;
  /** A context of the kubeconfig file other than its current one. */
  context?: string;
}

/** Without a path or inCluster, client-node's default lookup ($KUBECONFIG, ~/.kube/config, in-cluster). */
export function loadKubeConfig(source: KubeConfigSource = {}): KubeConfig {
  const kc = new PooledKubeConfig();
  if (source.path) kc.loadFromFile(source.path);
  else if (source.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (source.context) kc.setCurrentContext(source.context);
  return kc;
}

export function createK8sClients(kubeConfig: KubeConfig): K8sClients {
  return {
    kubeConfig,
    core: ValetCoreV1Api.make(kubeConfig),
    customObjects: ValetCustomObjectsApi.make(kubeConfig),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
}

/** Clients from a kubeconfig path; an empty path means client-node's default lookup. */
export function createClients(kubeconfigPath = ''): K8sClients {
  return createK8sClients(loadKubeConfig(kubeconfigPath ? { path: kubeconfigPath } : {}));
}
