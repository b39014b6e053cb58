// When a serving certificate must be (re)issued: missing, unreadable, not signed by the CA we hold,
// missing a name it must carry, or inside its renewal window. Pure: callers pass `now`.
import { X509Certificate } from 'node:crypto';

export interface Wanted {
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
}

export type RenewalDecision = { renew: false; renewAt: Date } | { renew: true; reason: string };

function names(cert: X509Certificate): { dns: Set<string>; ip: Set<string> } {
  const dns = new Set<string>();
  const ip = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dns.add(part.slice(4));
    else if (part.startsWith('IP Address:')) ip.add(part.slice(11));
  }
  return { dns, ip };
}

/**
 * Decides for a serving certificate (PEM) and the CA (PEM) it should chain to. `renewBeforeMs`
 * before notAfter, it is time to renew; a certificate that has not started yet is renewed too.
 */
export function decideRenewal(certPem: string | undefined, caPem: string | undefined, want: Wanted, now: Date, renewBeforeMs: number): RenewalDecision {
  if (!certPem || !caPem) return { renew: true, reason: 'no certificate yet' };
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(caPem);
  } catch {
    return { renew: true, reason: 'the stored certificate or CA cannot be parsed' };
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return { renew: true, reason: 'the certificate is not signed by the stored CA' };
  const have = names(cert);
  const missing = [...want.dnsNames.filter((n) => !have.dns.has(n)), ...(want.ipAddresses ?? []).filter((n) => !have.ip.has(n))];
  if (missing.length > 0) return { renew: true, reason: `the certificate lacks ${missing.join(', ')}` };
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now < notBefore) return { renew: true, reason: 'the certificate is not valid yet' };
  const caNotAfter = new Date(ca.validTo);
  const renewAt = new Date(Math.min(notAfter.getTime(), caNotAfter.getTime()) - renewBeforeMs);
  if (now >= renewAt) return { renew: true, reason: `the certificate expires ${notAfter.toISOString()}, inside the renewal window` };
  return { renew: false, renewAt };
}
