// What the webhook gives the sidecar (args and VALET_* variables) against what `valet sidecar`
// declares: a renamed flag or variable on either side fails here, not in a pod.
import { describe, expect, it } from 'vitest';
import { parseSidecarConfig, SIDECAR_OPTIONS } from '../config/sidecar.ts';
import { WEBHOOK_DEFAULTS } from '../config/webhook.ts';
import { applyPatch } from './json-patch.ts';
import { mutatePod } from './mutate.ts';
import type { Pod } from './pod.ts';

const TOKEN = 'pod-token-0123456789-abcdefghijklmnopqrstuv';
const settings = { ...WEBHOOK_DEFAULTS.injection, image: 'valet:test', issuerUrl: 'https://valet-issuer.valet-system.svc:8443', port: 9100, metricsPort: 9101 };
const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ml', labels: { 'valet.dev/inject': 'true' } }, spec: { containers: [{ name: 'app', image: 'app' }] } };

describe('the sidecar the webhook injects', () => {
  const result = mutatePod(pod, { settings, grants: [], podToken: TOKEN });
  const sidecar = applyPatch(pod, result.patch).spec?.initContainers?.[0];
  const argv = (sidecar?.args ?? []) as string[];
  const args = argv.slice(1);
  const env = Object.fromEntries((sidecar?.env ?? []).map((e) => [e.name, e.value ?? '']));

  it('runs `valet sidecar` with flags and VALET_* variables it declares', () => {
    expect(argv[0]).toBe('sidecar');
    const flags = new Set(Object.values(SIDECAR_OPTIONS).map((o) => o.flag && `--${o.flag}`));
    expect(args.map((a) => a.slice(0, a.indexOf('='))).filter((f) => !flags.has(f))).toEqual([]);
    const variables = new Set(Object.values(SIDECAR_OPTIONS).map((o) => o.env));
    expect(Object.keys(env).filter((n) => n.startsWith('VALET_') && !variables.has(n))).toEqual([]);
  });

  it('which the sidecar reads as the webhook meant', () => {
    // VALET_DEFAULT_ACCESS comes from an annotation: empty (unset) when the pod has none.
    const config = parseSidecarConfig(args, env);
    expect(config).toMatchObject({ issuerUrl: settings.issuerUrl, podAuthToken: TOKEN, port: 9100, metricsAddress: '0.0.0.0:9101', defaultAccess: '' });
    expect(parseSidecarConfig(args, { ...env, VALET_DEFAULT_ACCESS: 'imagenet' }).defaultAccess).toBe('imagenet');
  });
});
