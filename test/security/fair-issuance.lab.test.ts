// Fair issuance (issue #16): all namespaces share each store's STS budget, so a namespace flooding
// the issuer must not delay another namespace's first key. The real issuer over TLS, the real
// controller, MinIO's STS; the store's budget is made small (1 call/s, burst 1, 3 waiting per
// namespace) so the flood is real without thousands of pods.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabStore } from '../lab/valet.ts';
import { useLabLogs } from '../lab/vitest.ts';
import { startWorld, stopAndListLeftovers } from '../lab/world.ts';
import type { Reply, World } from '../lab/world.ts';

let w: World;
const FLOOD = 10;

beforeAll(async () => {
  w = await startWorld({
    ns: 'team-a',
    accesses: { imagenet: { prefix: 'imagenet/', verbs: ['read', 'list'] } },
    issuerSettings: { rateLimit: { ratePerSecond: 1, burst: 1, maxQueue: 100, maxQueuePerNamespace: 3 } },
  });
  await w.lab.core.createNamespace({ body: { metadata: { name: 'team-b', labels: { team: 'team-b' } } } });
  await w.lab.core.createNamespacedServiceAccount({ namespace: 'team-b', body: { metadata: { name: 'trainer' } } });
  await createLabStore(w.lab, 'team-b');
  await w.createAccess('imagenet', { prefix: 'imagenet/', verbs: ['read', 'list'] }, 'team-b');
  await w.waitFor('team-b/imagenet Ready', async () => (await w.readyOf('imagenet', 'team-b'))?.status === 'True');
});
afterAll(async () => {
  await w?.stop();
});
useLabLogs(() => w);

describe('one namespace flooding a shared store', () => {
  it("does not delay another namespace's first key, and its own excess gets 429 RateLimited with Retry-After", async () => {
    const flooders = await Promise.all(Array.from({ length: FLOOD }, (_, i) => w.podToken(`flood-${i}`)));
    const newcomer = await w.podToken('first-key', 'trainer', 'team-b');
    const done: string[] = [];
    const ask = (who: string, token: string) =>
      w.call('POST', '/v1/keys', { token }).then((r: Reply) => {
        done.push(`${who}:${r.status}`);
        return r;
      });
    const flood = flooders.map((f, i) => ask(`a${i}`, f.token));
    // Let team-a's burst be spent and its share of the queue fill up.
    await new Promise((r) => setTimeout(r, 300));
    const first = await ask('b', newcomer.token);
    const floodReplies = await Promise.all(flood);

    process.stdout.write(`fair issuance: completion order ${done.join(' ')}\n`);
    expect(first.status, first.body).toBe(200);
    const ok = floodReplies.filter((r) => r.status === 200);
    const limited = floodReplies.filter((r) => r.status === 429);
    // team-a: one from the burst plus its share of 3 queued; the rest refused at once.
    expect(ok.length).toBe(4);
    expect(limited.length).toBe(FLOOD - 4);
    for (const r of limited) {
      expect(r.json().error?.code).toBe('RateLimited');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    // team-b's first key came before team-a's queued ones were done: at most one of them (the one
    // already holding the next token) finished between team-b's request and its answer.
    const bAt = done.indexOf('b:200');
    const aOkAfterB = done.slice(bAt + 1).filter((d) => d.endsWith(':200')).length;
    expect(aOkAfterB).toBeGreaterThanOrEqual(2);
  });
});

describe('nothing left behind', () => {
  it('stops every process and removes every folder this suite made', async () => {
    expect(await stopAndListLeftovers(w)).toEqual([]);
  });
});
