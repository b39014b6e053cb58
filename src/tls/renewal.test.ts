import { describe, expect, it } from 'vitest';
import { createAuthority, issueCertificate } from './pki.ts';
import { decideRenewal } from './renewal.ts';

const DAY = 86_400_000;
const want = { dnsNames: ['valet.valet-system.svc'] };

describe('certificate renewal', () => {
  it('renews when there is no certificate, keeps a fresh one, and renews inside the window', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    const ca = await createAuthority('ca', 3650, now);
    const cert = await issueCertificate(ca, { commonName: 'valet', dnsNames: want.dnsNames, usage: 'server', validDays: 90, now });
    expect(decideRenewal(undefined, ca.certPem, want, now, 30 * DAY)).toMatchObject({ renew: true, reason: 'no certificate yet' });
    const fresh = decideRenewal(cert.certPem, ca.certPem, want, now, 30 * DAY);
    expect(fresh.renew).toBe(false);
    if (!fresh.renew) expect(fresh.renewAt.toISOString()).toBe(new Date(cert.notAfter.getTime() - 30 * DAY).toISOString().replace(/\.\d+Z/, '.000Z'));
    const late = new Date(now.getTime() + 61 * DAY);
    expect(decideRenewal(cert.certPem, ca.certPem, want, late, 30 * DAY)).toMatchObject({ renew: true, reason: expect.stringContaining('renewal window') });
  });

  it('renews a certificate that lacks a wanted name or was signed by another CA', async () => {
    const now = new Date();
    const ca = await createAuthority('ca');
    const other = await createAuthority('other');
    const cert = await issueCertificate(ca, { commonName: 'valet', dnsNames: ['old.name'], usage: 'server' });
    expect(decideRenewal(cert.certPem, ca.certPem, want, now, DAY)).toMatchObject({ renew: true, reason: 'the certificate lacks valet.valet-system.svc' });
    const right = await issueCertificate(ca, { commonName: 'valet', dnsNames: want.dnsNames, usage: 'server' });
    expect(decideRenewal(right.certPem, other.certPem, want, now, DAY)).toMatchObject({ renew: true, reason: 'the certificate is not signed by the stored CA' });
    expect(decideRenewal('garbage', ca.certPem, want, now, DAY)).toMatchObject({ renew: true });
  });
});

describe('a stored authority', () => {
  it('signs certificates that chain to the stored CA certificate', async () => {
    const { authorityFromPem } = await import('./pki.ts');
    const ca = await createAuthority('stored');
    const back = await authorityFromPem(ca.certPem, ca.privateKeyPem);
    const cert = await issueCertificate(back, { commonName: 'x', dnsNames: want.dnsNames, usage: 'server' });
    expect(decideRenewal(cert.certPem, ca.certPem, want, new Date(), DAY).renew).toBe(false);
  });
});
