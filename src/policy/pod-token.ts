// The pod's loopback token: the one secret that proves a caller on 127.0.0.1 was given Valet's
// keys. The webhook makes one per pod when it injects it and writes it, literally, into the
// environment of the sidecar (VALET_POD_AUTH_TOKEN) and of every injected app container
// (AWS_CONTAINER_AUTHORIZATION_TOKEN, which the Go SDK v1 and the Java SDK v2 read); the sidecar
// also writes it to the auth-token file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, which the other
// SDKs read). An environment variable cannot change under a running process, so the token lives
// exactly as long as the pod and survives sidecar restarts (ADR 0010).
//
// Stable loader URLs carry a capability derived from it, never the token itself: a data loader
// prints its URLs in errors and logs, and a URL that leaks must not open /v1/credentials.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { POD_TOKEN_PATTERN } from '../api/v1alpha1/index.ts';

export function generatePodToken(random: (n: number) => Buffer = randomBytes): string {
  return random(32).toString('base64url');
}

export function isPodToken(value: string): boolean {
  return POD_TOKEN_PATTERN.test(value);
}

/** The path segment of the pod's stable loader URLs: HMAC-SHA256(token, purpose), 128 bits, base64url. */
export function loaderCapability(token: string): string {
  return createHmac('sha256', token).update('valet.dev/loader/v1').digest().subarray(0, 16).toString('base64url');
}

/** Compares in constant time whatever the lengths (both sides hashed first). */
export function secretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
