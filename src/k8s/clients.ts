// The Kubernetes clients Valet uses, built from one KubeConfig. src/cli decides where the
// configuration comes from and passes it here; nothing below reads the environment itself.
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { RequestContext } from '@kubernetes/client-node';

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

export interface K8sClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
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
    customObjects: kubeConfig.makeApiClient(CustomObjectsApi),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
}

/** Clients from a kubeconfig path; an empty path means client-node's default lookup. */
export function createClients(kubeconfigPath = ''): K8sClients {
  return createK8sClients(loadKubeConfig(kubeconfigPath ? { path: kubeconfigPath } : {}));
}
