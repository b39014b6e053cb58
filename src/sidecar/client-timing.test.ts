// The Expiration the sidecar tells clients, and when it refreshes, against the refresh lead times
// of the clients docs/clients.md lists: no client may use a key past its real expiry, and a client
// refreshing at its lead time must get a new key, not the one it already has, whenever the session
// is long enough for that to be possible at all.
import { describe, expect, it } from 'vitest';
import { SIDECAR_DEFAULTS } from '../config/sidecar.ts';
import { podExpiration, refreshAt } from './refresh.ts';

/** Seconds before the Expiration they were given at which each client fetches again. */
const LEADS: Record<string, number> = {
  'AWS C++ SDK (pyarrow)': 5,
  'AWS SDK for Go v2, s5cmd (v1)': 0,
  'AWS SDK for JavaScript v3': 300,
  'object_store (polars, delta-rs)': 300,
  'botocore mandatory (boto3, awscli, s3fs)': 600,
  'botocore advisory': 900,
};

const plan = { fraction: SIDECAR_DEFAULTS.refreshFraction, jitter: SIDECAR_DEFAULTS.refreshJitter, marginMs: SIDECAR_DEFAULTS.expiryMarginSeconds * 1000, minDelayMs: 1000 };

describe.each([900, 1800, 3600, 43200])('a %i s session with the default settings', (session) => {
  const held = { obtainedAt: 0, expiresAt: session * 1000 };
  // The wall clock equals the monotonic one here; the skew case is tested in keys.test.ts.
  const expiration = Date.parse(podExpiration(held, 0, 0, plan.marginMs));

  it('tells clients an Expiration at least the expiry margin before the key really expires', () => {
    expect(session * 1000 - expiration).toBeGreaterThanOrEqual(SIDECAR_DEFAULTS.expiryMarginSeconds * 1000);
  });

  it.each(Object.entries(LEADS))('%s (lead %i s): never uses the key past its expiry, and refreshes into a new key when the session allows', (_client, lead) => {
    const clientRefreshes = expiration - lead * 1000;
    // Used until its refresh, or until Expiration for a client with no lead: both before the real end.
    expect(Math.max(clientRefreshes, 0)).toBeLessThan(session * 1000);
    // With any jitter, the sidecar holds the next key before the client comes back for one; where
    // it cannot, it is only because the session is shorter than twice the lead plus margin: such a
    // client (botocore with 15-minute sessions) asks on every call and still gets a valid key.
    const newKeyInTime = clientRefreshes > refreshAt(held, plan, 0);
    const sessionTooShort = session < 2 * (lead + SIDECAR_DEFAULTS.expiryMarginSeconds);
    expect({ newKeyInTime, sessionTooShort }).not.toEqual({ newKeyInTime: false, sessionTooShort: false });
  });
});
