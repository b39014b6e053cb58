// The admission webhook: mutate(review) core, a thin HTTPS adapter, and the
// MutatingWebhookConfiguration it is registered with. Never imports controller, sidecar or issuer.
export { mutate } from './mutate.ts';
export type { MutateDeps, MutateOutcome } from './mutate.ts';
export { ADMISSION_API_VERSION, BadReviewError, parseReview, reviewResponse } from './review.ts';
export type { AdmissionRequest, AdmissionResponse, AdmissionReviewResponse } from './review.ts';
export { createWebhookHandler, DEFAULT_MAX_BODY_BYTES, MUTATE_PATH, startWebhookServer } from './server.ts';
export type { TlsPems, WebhookHandlerDeps, WebhookServer, WebhookServerOptions } from './server.ts';
export { podWebhookConfiguration, POD_WEBHOOK_NAME, WEBHOOK_CONFIGURATION_NAME } from './registration.ts';
export type { PodWebhookRegistration } from './registration.ts';
