// The MutatingWebhookConfiguration through the API server: create or replace it whole (the
// operator or a test registering its webhook), swap the caBundle of every webhook in it (the
// operator's certificate rotation), and delete it. The object itself is built in src/webhook.
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import type { KubeConfig, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './keys.ts';

export type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';

/** Creates the configuration, or replaces the one of the same name; returns what the server stored. */
export async function applyMutatingWebhookConfiguration(kubeConfig: KubeConfig, body: V1MutatingWebhookConfiguration): Promise<V1MutatingWebhookConfiguration> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const name = body.metadata?.name ?? '';
  try {
    return await api.createMutatingWebhookConfiguration({ body });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  const current = await api.readMutatingWebhookConfiguration({ name });
  return api.replaceMutatingWebhookConfiguration({ name, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } });
}

/**
 * Sets caBundle (PEM; base64-encoded here) on every webhook of the named configuration. Returns
 * false when the configuration does not exist, true otherwise; writes only when something changes.
 */
export async function setMutatingWebhookCaBundle(kubeConfig: KubeConfig, name: string, caPem: string): Promise<boolean> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const caBundle = Buffer.from(caPem).toString('base64');
  for (let attempt = 0; ; attempt++) {
    let current: V1MutatingWebhookConfiguration;
    try {
      current = await api.readMutatingWebhookConfiguration({ name });
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    const webhooks = current.webhooks ?? [];
    if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) return true;
    for (const w of webhooks) w.clientConfig.caBundle = caBundle;
    try {
      await api.replaceMutatingWebhookConfiguration({ name, body: current });
      return true;
    } catch (err) {
      if (!isConflict(err) || attempt >= 4) throw err;
    }
  }
}

/** Deletes the configuration; absent is fine. */
export async function deleteMutatingWebhookConfiguration(kubeConfig: KubeConfig, name: string): Promise<void> {
  try {
    await kubeConfig.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
