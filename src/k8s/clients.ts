// The Kubernetes clients Valet uses, built from one KubeConfig. src/cli decides where the
// configuration comes from and passes it here; nothing below reads the environment itself.
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';

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
  const kc = new KubeConfig();
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
