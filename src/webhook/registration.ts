// The MutatingWebhookConfiguration Valet's pod webhook is registered with (the Helm chart renders
// the same policy). failurePolicy Fail, scoped by an objectSelector on the opt-in label, so only
// pods that asked for Valet depend on it; the operator's own namespace excluded, so the operator
// can always start; a short timeout; no side effects; reinvoked if a later webhook changes the pod.
import { INJECT_LABEL } from '../injection/index.ts';
import type { V1MutatingWebhookConfiguration } from '../k8s/webhook-config.ts';
import { MUTATE_PATH } from './server.ts';

export const WEBHOOK_CONFIGURATION_NAME = 'valet';
export const POD_WEBHOOK_NAME = 'pods.valet.dev';

export interface PodWebhookRegistration {
  /** PEM of the CA that signed the webhook's serving certificate. */
  caPem: string;
  /** Reach the webhook at this base URL (https://host:port; MUTATE_PATH is appended)… */
  url?: string;
  /** …or through this Service (in-cluster). */
  service?: { namespace: string; name: string; port?: number };
  /** Namespaces whose pods are never sent to the webhook: at least the operator's own. */
  excludeNamespaces: readonly string[];
  /** 1..30; default 5. */
  timeoutSeconds?: number;
  /** Default WEBHOOK_CONFIGURATION_NAME. */
  name?: string;
  labels?: Record<string, string>;
}

export function podWebhookConfiguration(r: PodWebhookRegistration): V1MutatingWebhookConfiguration {
  if (!r.url === !r.service) throw new Error('podWebhookConfiguration needs exactly one of url and service');
  if (r.excludeNamespaces.length === 0) throw new Error("podWebhookConfiguration needs the operator's namespace in excludeNamespaces");
  const caBundle = Buffer.from(r.caPem).toString('base64');
  const clientConfig = r.url
    ? { url: `${r.url.replace(/\/+$/, '')}${MUTATE_PATH}`, caBundle }
    : { service: { namespace: r.service?.namespace ?? '', name: r.service?.name ?? '', port: r.service?.port ?? 443, path: MUTATE_PATH }, caBundle };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: r.name ?? WEBHOOK_CONFIGURATION_NAME, labels: { 'app.kubernetes.io/name': 'valet', ...r.labels } },
    webhooks: [
      {
        name: POD_WEBHOOK_NAME,
        admissionReviewVersions: ['v1'],
        clientConfig,
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        objectSelector: { matchLabels: { [INJECT_LABEL]: 'true' } },
        namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...r.excludeNamespaces] }] },
        sideEffects: 'None',
        timeoutSeconds: r.timeoutSeconds ?? 5,
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
}
