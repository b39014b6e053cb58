import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { FakeTimers } from '../platform/timers.ts';
import { IssuerError } from './errors.ts';
import { Minter, assumeRoleParams } from './minter.ts';
import type { MintRequest } from './minter.ts';
import type { Grant } from './authorize.ts';
import { ScriptedSts, awsError, grantSource, pod, readyAccess, store } from './testdata/fixtures.ts';

function grantOf(name = 'imagenet', spec: Parameters<typeof readyAccess>[1] = {}, s = store()): Grant {
  const access = readyAccess(name, spec, { store: s });
  return { access, store: s, policy: access.status?.sessionPolicy ?? '' };
}

function setup(opts: { rate?: { ratePerSecond: number; burst: number; maxQueue: number } } = {}) {
  const clock = new FakeClock();
  const timers = new FakeTimers(clock);
  const sts = new ScriptedSts();
  sts.now = () => clock.now();
  const minter = new Minter({ sts, grants: grantSource([]), clock, timers, random: () => 0.5, rateLimit: opts.rate, backoff: { baseMs: 100, maxMs: 1000, minAttemptMs: 100 } });
  const req = (over: Partial<MintRequest> = {}): MintRequest => ({ pod: pod(), grant: grantOf(), deadline: clock.monotonic() + 10_000, signal: new AbortController().signal, ...over });
  return { clock, timers, sts, minter, req };
}

describe('the AssumeRole parameters', () => {
  it('carry the role, the rendered policy, the duration, the external ID and a session name after the pod', () => {
    const s = store({ externalId: 'ext-1' });
    const p = assumeRoleParams(pod(), grantOf('imagenet', {}, s));
    expect(p).toMatchObject({ roleArn: s.spec.roleArn, durationSeconds: 900, externalId: 'ext-1', roleSessionName: 'valet.team-a.trainer-0', endpoint: s.spec.stsEndpoint, region: 'us-east-1' });
    expect(JSON.parse(p.policy)).toMatchObject({ Version: '2012-10-17' });
    expect(p.tags).toBeUndefined();
    expect(p.sourceIdentity).toBeUndefined();
  });

  it('add source identity and tags only when the store asks for session tags', () => {
    const p = assumeRoleParams(pod(), grantOf('imagenet', {}, store({ sessionTags: true })));
    expect(p.sourceIdentity).toBe('team-a.trainer');
    expect(p.tags).toContainEqual({ Key: 'valet.dev/pod', Value: 'trainer-0' });
  });

  it('name a shared session after the service account', () => {
    expect(assumeRoleParams(pod(), grantOf('imagenet', { sharedSession: true })).roleSessionName).toBe('valet-sa.team-a.trainer');
  });
});

describe('the minter', () => {
  it('merges concurrent identical requests into one STS call', async () => {
    const { sts, minter, req } = setup();
    const keys = await Promise.all([minter.mint(req()), minter.mint(req()), minter.mint(req())]);
    expect(sts.calls).toHaveLength(1);
    expect(keys.map((k) => k.source)).toEqual(['sts', 'merged', 'merged']);
    expect(new Set(keys.map((k) => k.accessKeyId)).size).toBe(1);
    await minter.mint(req({ pod: pod({ podUid: 'uid-1', podName: 'trainer-1' }) }));
    expect(sts.calls).toHaveLength(2);
  });

  it('reuses a shared session until half its lifetime is gone', async () => {
    const { clock, sts, minter, req } = setup();
    const grant = grantOf('shared', { sharedSession: true });
    const a = await minter.mint(req({ grant }));
    const b = await minter.mint(req({ grant, pod: pod({ podUid: 'uid-9', podName: 'trainer-9' }) }));
    expect(sts.calls).toHaveLength(1);
    expect(b).toMatchObject({ accessKeyId: a.accessKeyId, source: 'cache' });
    clock.advance(451_000);
    const c = await minter.mint(req({ grant }));
    expect(c.source).toBe('sts');
    expect(sts.calls).toHaveLength(2);
    // Another service account never shares it.
    await minter.mint(req({ grant, pod: pod({ serviceAccount: 'other' }) }));
    expect(sts.calls).toHaveLength(3);
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    const { timers, sts, minter, req } = setup();
    sts.then(
      () => Promise.reject(awsError('Throttling', 400)),
      () => Promise.reject(awsError('InternalError', 500)),
    );
    const p = minter.mint(req());
    await timers.advance(2000);
    await expect(p).resolves.toMatchObject({ source: 'sts' });
    expect(sts.calls).toHaveLength(3);
  });

  it('does not retry a refusal, and answers StsRejected with only the error name', async () => {
    const { sts, minter, req } = setup();
    sts.then(() => Promise.reject(awsError('AccessDenied', 403)));
    const err = await minter.mint(req()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IssuerError);
    expect(err).toMatchObject({ code: 'StsRejected', httpStatus: 502 });
    expect((err as Error).message).toContain('AccessDenied');
    expect((err as Error).message).not.toContain('happened');
    expect(sts.calls).toHaveLength(1);
  });

  it('answers StsUnavailable before the deadline when STS cannot be reached', async () => {
    const { clock, timers, sts, minter, req } = setup();
    const down = () => Promise.reject(awsError('Error', undefined, 'ECONNREFUSED'));
    sts.then(...Array.from({ length: 50 }, () => down));
    const started = clock.monotonic();
    const p = minter.mint(req({ deadline: started + 3000 })).catch((e: unknown) => e);
    await timers.advance(5000);
    const err = await p;
    expect(err).toMatchObject({ code: 'StsUnavailable', httpStatus: 503 });
    expect(sts.calls.length).toBeGreaterThan(2);
  });

  it('maps throttling that outlasts the deadline to StsThrottled, and 5xx to StsError', async () => {
    for (const [e, code] of [
      [awsError('Throttling', 400), 'StsThrottled'],
      [awsError('InternalError', 500), 'StsError'],
    ] as const) {
      const { timers, sts, minter, req, clock } = setup();
      sts.then(...Array.from({ length: 50 }, () => () => Promise.reject(e)));
      const p = minter.mint(req({ deadline: clock.monotonic() + 2000 })).catch((x: unknown) => x);
      await timers.advance(5000);
      expect(await p).toMatchObject({ code });
    }
  });

  it('queues calls behind the per-store rate limit, and refuses those that cannot make their deadline', async () => {
    const { clock, timers, sts, minter, req } = setup({ rate: { ratePerSecond: 2, burst: 1, maxQueue: 10 } });
    const pods = Array.from({ length: 4 }, (_, i) => pod({ podUid: `u${i}`, podName: `p${i}` }));
    const results = pods.map((p) => minter.mint(req({ pod: p, deadline: clock.monotonic() + 1200 })).then((k) => k.source, (e: unknown) => (e as IssuerError).code));
    await timers.advance(2000);
    expect(await Promise.all(results)).toEqual(['sts', 'sts', 'sts', 'RateLimited']);
    expect(sts.calls).toHaveLength(3);
  });

  it('turns a failure to read the store credentials into StoreCredentialsUnavailable', async () => {
    const clock = new FakeClock();
    const minter = new Minter({
      sts: new ScriptedSts(),
      grants: { storeCredentials: () => Promise.reject(new Error('secrets is forbidden')) },
      clock,
      timers: new FakeTimers(clock),
    });
    const err = await minter.mint({ pod: pod(), grant: grantOf(), deadline: 10_000, signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'StoreCredentialsUnavailable', httpStatus: 503 });
  });

  it('stops waiting when the request is aborted', async () => {
    const { sts, minter, req } = setup();
    sts.then((_p, signal) => new Promise((_r, reject) => signal?.addEventListener('abort', () => reject(awsError('AbortError')))));
    const ac = new AbortController();
    const p = minter.mint(req({ signal: ac.signal })).catch((e: unknown) => e);
    ac.abort(new IssuerError('Timeout'));
    expect(await p).toMatchObject({ code: 'Timeout' });
  });
});
