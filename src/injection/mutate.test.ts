// Golden pods: testdata/<case>.json holds a pod and what grants it; <case>.expected.json the
// result, message, JSON patch and warnings. `npx vitest run --project unit src/injection -u`
// rewrites the expectations; review the diff before committing it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_DEFAULTS } from '../config/webhook.ts';
import type { InjectionSettings } from '../config/webhook.ts';
import { COMPETING_ENV, ENV_GROUPS, INJECTED_ANNOTATION, REMOVED_ENV_ANNOTATION, SIDECAR_NAME, VALET_ENV } from './constants.ts';
import { loaderCapability } from '../policy/index.ts';
import type { PodGrant } from './grants.ts';
import { applyPatch } from './json-patch.ts';
import type { JsonPatchOp } from './json-patch.ts';
import { mutatePod } from './mutate.ts';
import type { MutationResult } from './mutate.ts';
import type { Container, Pod } from './pod.ts';

const DIR = join(import.meta.dirname, 'testdata');

const SETTINGS: InjectionSettings = {
  ...WEBHOOK_DEFAULTS.injection,
  image: 'registry.example/valet:0.1.0',
  issuerUrl: 'https://valet-issuer.valet-system.svc:8443',
};

interface Fixture {
  description: string;
  grants: PodGrant[];
  note?: string;
  pod: Pod;
}

interface Expected {
  result: MutationResult;
  message: string;
  patch: JsonPatchOp[];
  warnings: string[];
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.json') && !f.endsWith('.expected.json')).sort();
const load = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture;
/** Pinned so the golden patches are stable; the webhook makes a random one per pod. */
const TOKEN = 'pod-token-0123456789-abcdefghijklmnopqrstuv';
const run = (fx: Fixture, pod: Pod = fx.pod, podToken = TOKEN) => mutatePod(pod, { settings: SETTINGS, grants: fx.grants, note: fx.note, podToken });
const competing = new Set<string>([...COMPETING_ENV, ...VALET_ENV]);
const allContainers = (p: Pod): Container[] => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])];

describe('golden pods', () => {
  it('there are at least ten, each with a description and an expected patch', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) expect(load(f).description, f).toBeTruthy();
    // Every case has its expectation, and every expectation a case (no stale file after a rename).
    const expected = readdirSync(DIR).filter((f) => f.endsWith('.expected.json'));
    expect(expected.sort()).toEqual(files.map((f) => f.replace(/\.json$/, '.expected.json')));
  });

  describe.each(files)('%s', (file) => {
    const fx = load(file);
    const got = run(fx);

    it('gives the expected result, patch and warnings', async () => {
      const actual: Expected = { result: got.result, message: got.message, patch: got.patch, warnings: got.warnings };
      await expect(JSON.stringify(actual, null, 2) + '\n').toMatchFileSnapshot(join(DIR, file.replace(/\.json$/, '.expected.json')));
    });

    it('yields no patch when run again on its own output (reinvocation)', () => {
      const again = run(fx, applyPatch(fx.pod, got.patch));
      expect(again.patch).toEqual([]);
    });

    it("keeps every variable (but competing ones), volume and container the user set, exactly as they were", () => {
      const after = applyPatch(fx.pod, got.patch);
      const skip = new Set((fx.pod.metadata?.annotations?.['valet.dev/skip-containers'] ?? '').split(','));
      for (const before of allContainers(fx.pod)) {
        const now = allContainers(after).find((c) => c.name === before.name);
        expect(now, before.name).toBeDefined();
        const injected = fx.pod.spec?.containers?.includes(before) && !skip.has(before.name) && got.result !== 'Refused' && got.result !== 'NotSelected';
        for (const e of before.env ?? []) {
          if (injected && competing.has(e.name)) continue;
          expect(now?.env?.filter((x) => x.name === e.name)).toEqual([e]);
        }
        expect((now?.volumeMounts ?? []).slice(0, before.volumeMounts?.length ?? 0)).toEqual(before.volumeMounts ?? []);
      }
      expect(after.spec?.volumes?.slice(0, fx.pod.spec?.volumes?.length ?? 0) ?? []).toEqual(fx.pod.spec?.volumes ?? []);
      for (const [k, v] of Object.entries(fx.pod.metadata?.annotations ?? {})) expect(after.metadata?.annotations?.[k]).toBe(v);
    });
  });
});

describe('the injected pod', () => {
  const bare = load('bare-pod.json');
  const pod = applyPatch(bare.pod, run(bare).patch);
  const sidecar = pod.spec?.initContainers?.[0] as Record<string, unknown> & Container;

  it('runs the sidecar as a native sidecar whose startup probe holds the app until a key is ready', () => {
    expect(sidecar.name).toBe(SIDECAR_NAME);
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.startupProbe).toMatchObject({ httpGet: { path: '/readyz', port: SETTINGS.metricsPort } });
    expect(sidecar.args).toEqual(expect.arrayContaining(['sidecar', `--port=${SETTINGS.port}`, `--metrics-address=0.0.0.0:${SETTINGS.metricsPort}`]));
  });

  it('hardens the sidecar', () => {
    expect(sidecar.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(sidecar.resources).toEqual({ requests: { cpu: '10m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
  });

  it('gives the sidecar a valet.dev token, the issuer CA and an in-memory shared volume', () => {
    expect(pod.spec?.volumes).toEqual([
      { name: 'valet-token', projected: { sources: [{ serviceAccountToken: { audience: 'valet.dev', expirationSeconds: 3600, path: 'token' } }] } },
      { name: 'valet-shared', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
      { name: 'valet-issuer-ca', configMap: { name: 'valet-issuer-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
    ]);
  });

  it('points the app container at the sidecar, with the shared volume read-only', () => {
    const app = pod.spec?.containers?.[0];
    expect(app?.env).toEqual([
      { name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: 'http://127.0.0.1:8760/v1/credentials' },
      { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', value: '/var/run/valet/shared/auth-token' },
      { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN', value: TOKEN },
      { name: 'VALET_LOADER_URL', value: `http://127.0.0.1:8760/v1/loader/${loaderCapability(TOKEN)}` },
      { name: 'AWS_REGION', value: 'eu-west-1' },
      { name: 'AWS_DEFAULT_REGION', value: 'eu-west-1' },
    ]);
    expect(app?.volumeMounts).toEqual([{ name: 'valet-shared', mountPath: '/var/run/valet/shared', readOnly: true }]);
  });

  it('is left alone when created again with its annotation (already injected)', () => {
    expect(run(bare, pod)).toMatchObject({ result: 'AlreadyInjected', patch: [] });
  });

  it('gives a container another webhook added later its variables, and nothing else (reinvocation)', () => {
    const later: Pod = structuredClone(pod);
    later.spec?.containers?.push({ name: 'added-later', image: 'x:1', env: [{ name: 'AWS_REGION', value: 'ap-south-1' }] });
    // A new token for this admission: the pod keeps the one its sidecar already has.
    const m = run(bare, later, 'another-token-0123456789-abcdefghijklmnopqr');
    expect(m.result).toBe('AlreadyInjected');
    expect(m.patch).toEqual([
      { op: 'add', path: '/spec/containers/1/env/-', value: { name: 'AWS_CONTAINER_CREDENTIALS_FULL_URI', value: 'http://127.0.0.1:8760/v1/credentials' } },
      { op: 'add', path: '/spec/containers/1/env/-', value: { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE', value: '/var/run/valet/shared/auth-token' } },
      { op: 'add', path: '/spec/containers/1/env/-', value: { name: 'AWS_CONTAINER_AUTHORIZATION_TOKEN', value: TOKEN } },
      { op: 'add', path: '/spec/containers/1/env/-', value: { name: 'VALET_LOADER_URL', value: `http://127.0.0.1:8760/v1/loader/${loaderCapability(TOKEN)}` } },
      { op: 'add', path: '/spec/containers/1/volumeMounts', value: [{ name: 'valet-shared', mountPath: '/var/run/valet/shared', readOnly: true }] },
    ]);
    expect(run(bare, applyPatch(later, m.patch)).patch).toEqual([]);
  });

  it('gives the sidecar the same token, literally, as the app containers', () => {
    expect(sidecar.env).toContainEqual({ name: 'VALET_POD_AUTH_TOKEN', value: TOKEN });
  });

  it('is deterministic: the same pod gives the same patch', () => {
    expect(run(bare)).toEqual(run(bare));
    expect(pod.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe('true');
  });
});

describe('variables the user set', () => {
  const fx = load('bare-pod.json');
  const withEnv = (env: { name: string; value: string }[]): Pod => ({ ...fx.pod, spec: { ...fx.pod.spec, containers: [{ name: 'app', image: 'a', env }] } });
  const added = (p: Pod) => applyPatch(p, run(fx, p).patch).spec?.containers?.[0]?.env?.map((e) => e.name) ?? [];

  it.each(COMPETING_ENV)('%s, which would make some SDK take other keys, is removed and recorded by name', (name) => {
    const pod = withEnv([{ name: 'KEEP', value: '1' }, { name, value: 'secret-value-never-copied' }, { name: 'AWS_REGION', value: 'us-east-2' }]);
    const m = run(fx, pod);
    const after = applyPatch(pod, m.patch);
    const env = after.spec?.containers?.[0]?.env ?? [];
    expect(env.map((e) => e.name)).not.toContain(name);
    expect(env.filter((e) => e.name === 'KEEP' || e.name === 'AWS_REGION')).toEqual([{ name: 'KEEP', value: '1' }, { name: 'AWS_REGION', value: 'us-east-2' }]);
    expect(after.metadata?.annotations?.[REMOVED_ENV_ANNOTATION]).toBe(`app=${name}`);
    expect(m.warnings.join('\n')).toContain(name);
    expect(JSON.stringify({ a: after.metadata?.annotations, w: m.warnings, msg: m.message })).not.toContain('secret-value-never-copied');
    expect(run(fx, after).patch).toEqual([]);
  });

  it.each(VALET_ENV)("a pod spec's own %s is replaced by valet's (an injected container always gets valet's keys)", (name) => {
    const pod = withEnv([{ name, value: 'http://elsewhere.example/creds' }]);
    const after = applyPatch(pod, run(fx, pod).patch);
    const env = after.spec?.containers?.[0]?.env ?? [];
    expect(env.filter((e) => e.name === name)).toHaveLength(1);
    expect(env.find((e) => e.name === name)?.value).not.toBe('http://elsewhere.example/creds');
    expect(after.metadata?.annotations?.[REMOVED_ENV_ANNOTATION]).toBe(`app=${name}`);
  });

  it('a container named in valet.dev/skip-containers keeps its own keys and gets neither token', () => {
    const pod: Pod = { ...fx.pod, metadata: { ...fx.pod.metadata, annotations: { 'valet.dev/skip-containers': 'own' } }, spec: { ...fx.pod.spec, containers: [{ name: 'app', image: 'a' }, { name: 'own', image: 'b', env: [{ name: 'AWS_PROFILE', value: 'x' }] }] } };
    const after = applyPatch(pod, run(fx, pod).patch);
    expect(after.spec?.containers?.[1]?.env).toEqual([{ name: 'AWS_PROFILE', value: 'x' }]);
    expect(after.metadata?.annotations?.[REMOVED_ENV_ANNOTATION]).toBeUndefined();
  });

  it.each(Object.entries(ENV_GROUPS).flatMap(([group, names]) => names.map((n) => [group, n] as const)))('a user-set %s variable (%s) keeps valet out of that group', (group, name) => {
    const names = added(withEnv([{ name, value: 'user' }]));
    const ours = ENV_GROUPS[group as keyof typeof ENV_GROUPS].filter((n) => n !== name);
    for (const n of ours) expect(names).not.toContain(n);
    expect(names.filter((n) => n === name)).toHaveLength(1);
  });
});
