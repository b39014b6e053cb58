// The webhook's core: an AdmissionReview in, an AdmissionReview response out. Pods being created
// get the patch src/injection computes from the accesses that grant them; everything else is
// allowed unchanged. No side effects beyond logs and metrics, so the webhook declares
// sideEffects: None and answers dry-run requests exactly like real ones.
import type { InjectionSettings } from '../config/webhook.ts';
import { generatePodToken } from '../policy/index.ts';
import { INJECT_LABEL, matchGrants, mutatePod, podDisplayName, podShapeProblem } from '../injection/index.ts';
import type { AccessLookup, Mutation, Pod } from '../injection/index.ts';
import type { WebhookMetrics, WebhookResult } from '../metrics/webhook.ts';
import type { Clock } from '../platform/clock.ts';
import { systemClock } from '../platform/clock.ts';
import type { Logger } from '../platform/logger.ts';
import { parseReview, reviewResponse } from './review.ts';
import type { AdmissionRequest, AdmissionResponse, AdmissionReviewResponse } from './review.ts';

export interface MutateDeps {
  settings: InjectionSettings;
  /** The DatasetAccess and store caches (the operator passes its InformerGrantSource). */
  lookup: AccessLookup;
  /** While false, pods are refused with 503 (a retry succeeds once the caches have synced). */
  ready?: () => boolean;
  logger: Logger;
  metrics?: WebhookMetrics;
  clock?: Clock;
  /** Makes each pod's loopback token (tests pin it). */
  podToken?: () => string;
}

export interface MutateOutcome {
  review: AdmissionReviewResponse;
  result: WebhookResult;
}

const isPodCreate = (r: AdmissionRequest) =>
  r.operation === 'CREATE' && r.kind.group === '' && r.kind.version === 'v1' && r.kind.kind === 'Pod' && !r.subResource;

function decide(request: AdmissionRequest, deps: MutateDeps): { response: AdmissionResponse; result: WebhookResult; mutation?: Mutation } {
  const uid = request.uid;
  const allow = (result: WebhookResult): { response: AdmissionResponse; result: WebhookResult } => ({ response: { uid, allowed: true }, result });
  if (!isPodCreate(request)) return allow('Ignored');
  const shape = request.object === undefined || request.object === null ? 'the AdmissionReview carries no pod' : podShapeProblem(request.object);
  if (shape) return { response: { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `valet: the pod is malformed: ${shape}` } }, result: 'Refused' };
  const pod = request.object as Pod;
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') return allow('NotSelected');
  if (deps.ready && !deps.ready()) {
    return {
      response: { uid, allowed: false, status: { code: 503, reason: 'ServiceUnavailable', message: 'valet webhook is starting (its DatasetAccess caches have not synced yet); retry shortly' } },
      result: 'NotReady',
    };
  }
  const namespace = request.namespace || pod.metadata.namespace || '';
  const serviceAccountName = pod.spec?.serviceAccountName || 'default';
  const { grants, note } = matchGrants({ namespace, serviceAccountName, labels: pod.metadata.labels }, deps.lookup);
  // A fresh token per pod; mutatePod uses it only for a pod not injected yet (ADR 0010).
  const mutation = mutatePod(pod, { settings: deps.settings, grants, note, podToken: (deps.podToken ?? generatePodToken)() });
  if (mutation.result === 'Refused') {
    return { response: { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `valet: ${mutation.message}` } }, result: 'Refused', mutation };
  }
  const response: AdmissionResponse = { uid, allowed: true };
  if (mutation.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(mutation.patch)).toString('base64');
  }
  if (mutation.warnings.length > 0) response.warnings = mutation.warnings;
  return { response, result: mutation.result, mutation };
}

/**
 * Answers one AdmissionReview. Throws BadReviewError for a body that is no review (answer 400);
 * any other failure is answered as a refusal with code 500, so the API server shows why.
 * `started` is the clock's monotonic time when the request arrived (for the latency metric).
 */
export function mutate(body: unknown, deps: MutateDeps, started?: number): MutateOutcome {
  const clock = deps.clock ?? systemClock;
  const t0 = started ?? clock.monotonic();
  const request = parseReview(body);
  let out: ReturnType<typeof decide>;
  try {
    out = decide(request, deps);
  } catch (err) {
    deps.logger.error('mutation failed', { err, uid: request.uid, namespace: request.namespace });
    out = { response: { uid: request.uid, allowed: false, status: { code: 500, reason: 'InternalError', message: 'valet webhook failed to compute the pod patch; see the operator log' } }, result: 'Error' };
  }
  const seconds = (clock.monotonic() - t0) / 1000;
  deps.metrics?.admissions.inc({ result: out.result });
  deps.metrics?.admissionSeconds.observe({ result: out.result }, seconds);
  const m = out.mutation;
  if (m && m.patch.length > 0) deps.metrics?.patchOperations.observe(m.patch.length);
  if (m) {
    const pod = request.object as Pod;
    const fields = {
      uid: request.uid,
      namespace: request.namespace,
      pod: request.name || podDisplayName(pod),
      result: out.result,
      containers: m.containers,
      operations: m.patch.length,
      dryRun: request.dryRun === true,
      latencyMs: Math.round(seconds * 1000),
    };
    // Dry runs change nothing; their decisions are logged at debug only.
    const level = request.dryRun ? 'debug' : out.result === 'Refused' ? 'warn' : out.result === 'AlreadyInjected' && m.patch.length === 0 ? 'debug' : 'info';
    deps.logger[level](m.message, fields);
  }
  return { review: reviewResponse(out.response), result: out.result };
}
