// The Kubernetes clients Valet uses, built from one KubeConfig. src/cli decides where the
// configuration comes from and passes it here; nothing below reads the environment itself.
import { ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, HttpMethod, IsomorphicFetchHttpLibrary, KubeConfig, RequestContext } from '@kubernetes/client-node';
import type { StatusApi } from './status.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

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
}

const http = new IsomorphicFetchHttpLibrary();

/**
 * One request through client-node's own HTTP layer (its undici fetch, the KubeConfig's credentials
 * and, for a PooledKubeConfig, its pool), without its model (de)serialisation, and without reading
 * a successful answer: the body is drained as it arrives (so the connection goes back to the pool)
 * and never turned into a string or an object. A failure rejects with client-node's ApiException
 * (its `code` the HTTP status), as the generated clients do.
 */
export async function sendDiscardingAnswer(kc: KubeConfig, method: 'PATCH' | 'PUT' | 'POST', path: string, body: string, contentType: string): Promise<void> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('No active cluster!');
  const ctx = new RequestContext(server + path, HttpMethod[method]);
  ctx.setHeaderParam('Content-Type', contentType);
  ctx.setHeaderParam('Accept', 'application/json');
  ctx.setBody(body);
  await kc.applySecurityAuthentication(ctx);
  const res = await http.send(ctx).toPromise();
  if (res.httpStatusCode >= 200 && res.httpStatusCode < 300) {
    const stream = res.body.stream() as AsyncIterable<unknown> | undefined;
    if (stream) for await (const chunk of stream) void chunk;
    return;
  }
  // A failure's body is a small Status: its message says why (no credentials are in it).
  const text = await res.body.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {
    // not JSON: keep the text
  }
  throw new ApiException(res.httpStatusCode, message, text, res.headers);
}

/** client-node's CustomObjectsApi, plus status writes as a small merge patch (src/k8s/status.ts). */
export class ValetCustomObjectsApi extends CustomObjectsApi implements StatusApi {
  private kubeConfig: KubeConfig | undefined;

  static make(kc: KubeConfig): ValetCustomObjectsApi {
    const api = kc.makeApiClient(ValetCustomObjectsApi);
    api.kubeConfig = kc;
    return api;
  }

  mergePatchStatus(path: string, body: string): Promise<void> {
    if (!this.kubeConfig) throw new Error('ValetCustomObjectsApi made without ValetCustomObjectsApi.make');
    return sendDiscardingAnswer(this.kubeConfig, 'PATCH', path, body, 'application/merge-patch+json');
  }
}

export interface K8sClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
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
    core: kubeConfig.makeApiClient(CoreV1Api),
    customObjects: ValetCustomObjectsApi.make(kubeConfig),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
}

/** Clients from a kubeconfig path; an empty path means client-node's default lookup. */
export function createClients(kubeconfigPath = ''): K8sClients {
  return createK8sClients(loadKubeConfig(kubeconfigPath ? { path: kubeconfigPath } : {}));
}
