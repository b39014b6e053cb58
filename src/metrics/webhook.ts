// Admission webhook metrics, created on the Registry passed in (STYLE.md habit 8). Labels carry
// results only: never pod names, namespaces or images.
import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * Results: Injected, InjectedNoAccess, AlreadyInjected, NotSelected, Refused (the pod cannot be
 * injected safely), Ignored (not a pod CREATE), NotReady (caches not synced), Error, BadRequest.
 */
export type WebhookResult = 'Injected' | 'InjectedNoAccess' | 'AlreadyInjected' | 'NotSelected' | 'Refused' | 'Ignored' | 'NotReady' | 'Error' | 'BadRequest';

export interface WebhookMetrics {
  /** valet_webhook_admissions_total{result}: AdmissionReviews answered, by result. */
  admissions: Counter<'result'>;
  /** valet_webhook_admission_duration_seconds{result}: from request received to answer sent. */
  admissionSeconds: Histogram<'result'>;
  /** valet_webhook_patch_operations: JSON patch operations per mutated pod. */
  patchOperations: Histogram;
}

const LATENCY = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createWebhookMetrics(registry: Registry, prefix = 'valet_'): WebhookMetrics {
  const registers = [registry];
  const p = `${prefix}webhook_`;
  return {
    admissions: new Counter({ name: `${p}admissions_total`, help: 'AdmissionReviews answered by the pod webhook, by result.', labelNames: ['result'], registers }),
    admissionSeconds: new Histogram({ name: `${p}admission_duration_seconds`, help: 'Time to answer an AdmissionReview, by result.', labelNames: ['result'], buckets: LATENCY, registers }),
    patchOperations: new Histogram({ name: `${p}patch_operations`, help: 'JSON patch operations per mutated pod.', buckets: [1, 2, 5, 10, 20, 50, 100], registers }),
  };
}
