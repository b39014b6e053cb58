import { isIssuerErrorCode } from '../api/issuer/v1/index.ts';
import { describe, expect, it } from 'vitest';
import type { AuthenticationV1Api, CoreV1Api, V1Pod, V1TokenReview } from '@kubernetes/client-node';
import { FakeClock } from '../platform/clock.ts';
import { IDENTITY_ERROR_CODES, TokenReviewAuthenticator } from './identity.ts';

const bound = (over: Partial<NonNullable<V1TokenReview['status']>> = {}): V1TokenReview => ({
  spec: { token: 'tok' },
  status: {
    authenticated: true,
    audiences: ['valet.dev'],
    user: {
      username: 'system:serviceaccount:team-a:trainer',
      extra: { 'authentication.kubernetes.io/pod-name': ['trainer-0'], 'authentication.kubernetes.io/pod-uid': ['uid-0'] },
    },
    ...over,
  },
});

const livePod = (over: Partial<V1Pod['metadata']> = {}): V1Pod => ({ metadata: { name: 'trainer-0', namespace: 'team-a', uid: 'uid-0', labels: { role: 'x' }, ...over }, spec: { serviceAccountName: 'trainer', containers: [] } });

function setup(review: () => Promise<V1TokenReview> = async () => bound(), readPod: () => Promise<V1Pod> = async () => livePod()) {
  const clock = new FakeClock();
  const reviewed: string[] = [];
  let podReads = 0;
  const auth = new TokenReviewAuthenticator({
    authentication: {
      createTokenReview: async (p: { body: V1TokenReview }) => {
        reviewed.push(p.body.spec.token ?? '');
        expect(p.body.spec.audiences).toEqual(['valet.dev']);
        return review();
      },
    } as unknown as Pick<AuthenticationV1Api, 'createTokenReview'>,
    core: {
      readNamespacedPod: async () => {
        podReads++;
        return readPod();
      },
    } as unknown as Pick<CoreV1Api, 'readNamespacedPod'>,
    clock,
  });
  return { clock, auth, reviewed, podReads: () => podReads };
}

const notFound = () => Promise.reject(Object.assign(new Error('pods "trainer-0" not found'), { code: 404 }));

describe('authenticating a pod-bound token', () => {
  it('returns the pod identity, with the labels of the pod as read now', async () => {
    const { auth } = setup();
    expect(await auth.authenticate('tok')).toEqual({ namespace: 'team-a', serviceAccount: 'trainer', podName: 'trainer-0', podUid: 'uid-0', labels: { role: 'x' } });
  });

  it('refuses unauthenticated, other-audience and unbound tokens with a bare Unauthenticated', async () => {
    const cases: V1TokenReview[] = [
      bound({ authenticated: false, error: 'token expired' }),
      bound({ audiences: ['sts.amazonaws.com'] }),
      bound({ user: { username: 'system:serviceaccount:team-a:trainer', extra: {} } }),
      bound({ user: { username: 'alice', extra: { 'authentication.kubernetes.io/pod-name': ['p'], 'authentication.kubernetes.io/pod-uid': ['u'] } } }),
    ];
    for (const c of cases) {
      const { auth } = setup(async () => c);
      await expect(auth.authenticate('tok')).rejects.toMatchObject({ code: 'Unauthenticated', httpStatus: 401 });
    }
    const { auth, reviewed } = setup();
    await expect(auth.authenticate('')).rejects.toMatchObject({ code: 'Unauthenticated' });
    await expect(auth.authenticate('a b')).rejects.toMatchObject({ code: 'Unauthenticated' });
    expect(reviewed).toEqual([]);
  });

  it('checks the pod itself: gone, replaced, terminating or finished pods are refused even while the review is cached', async () => {
    let pod: () => Promise<V1Pod> = async () => livePod();
    const { auth, reviewed } = setup(undefined, () => pod());
    await auth.authenticate('tok');
    pod = notFound;
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ code: 'PodNotFound', httpStatus: 403 });
    pod = async () => livePod({ uid: 'uid-new' });
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ code: 'PodUidMismatch' });
    pod = async () => livePod({ deletionTimestamp: new Date() });
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ code: 'PodTerminating' });
    for (const phase of ['Succeeded', 'Failed']) {
      pod = async () => ({ ...livePod(), status: { phase } });
      await expect(auth.authenticate('tok'), phase).rejects.toMatchObject({ code: 'PodFinished', httpStatus: 403 });
    }
    pod = async () => ({ ...livePod(), status: { phase: 'Running' } });
    await expect(auth.authenticate('tok')).resolves.toMatchObject({ podName: 'trainer-0' });
    expect(reviewed).toHaveLength(1);
  });

  it("passes the pod's valet.dev/default-access annotation on, and nothing when it is unset", async () => {
    const { auth } = setup(undefined, async () => livePod({ annotations: { 'valet.dev/default-access': 'imagenet', other: 'x' } }));
    expect(await auth.authenticate('tok')).toMatchObject({ defaultAccess: 'imagenet' });
    const plain = setup();
    expect(await plain.auth.authenticate('tok')).not.toHaveProperty('defaultAccess');
  });

  it('caches reviews by the token hash for a while, merging concurrent ones', async () => {
    const { auth, clock, reviewed, podReads } = setup();
    await Promise.all([auth.authenticate('tok'), auth.authenticate('tok'), auth.authenticate('tok')]);
    expect(reviewed).toHaveLength(1);
    expect(podReads()).toBe(1);
    await auth.authenticate('tok');
    expect(podReads()).toBe(2);
    clock.advance(10_001);
    await auth.authenticate('tok');
    expect(reviewed).toHaveLength(2);
    await auth.authenticate('other');
    expect(reviewed).toHaveLength(3);
  });

  it('never caches a review past the token expiry', async () => {
    const { auth, clock, reviewed } = setup();
    const exp = Math.floor(clock.now() / 1000) + 2;
    const token = `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
    await auth.authenticate(token);
    clock.advance(3000);
    await auth.authenticate(token);
    expect(reviewed).toHaveLength(2);
  });

  it('reports an unreachable API server as KubernetesUnavailable, and does not cache that', async () => {
    let fail = true;
    const { auth, reviewed } = setup(async () => {
      if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return bound();
    });
    await expect(auth.authenticate('tok')).rejects.toMatchObject({ code: 'KubernetesUnavailable', httpStatus: 503 });
    fail = false;
    await expect(auth.authenticate('tok')).resolves.toMatchObject({ podName: 'trainer-0' });
    expect(reviewed).toHaveLength(2);
  });

  it('throws only codes of the issuer error table', () => {
    for (const code of IDENTITY_ERROR_CODES) expect(isIssuerErrorCode(code), code).toBe(true);
  });
});
