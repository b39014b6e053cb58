// Checks several commands' options share. Each returns the problem ("must be …") or undefined.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** host:port, the host possibly empty (all addresses) or a bracketed IPv6 literal. */
export function hostPort(v: string): string | undefined {
  return /^[^:]*:\d{1,5}$/.test(v) || /^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(v) ? undefined : 'must be host:port';
}

/** host:port, or empty to turn the server off. */
export function hostPortOrEmpty(v: string): string | undefined {
  return v === '' || !hostPort(v) ? undefined : 'must be host:port or empty';
}

export function absolutePath(v: string): string | undefined {
  return v.startsWith('/') ? undefined : 'must be an absolute path';
}

/**
 * A plain https:// URL: keys travel over it, so no http, and nothing (user info, query, fragment)
 * that could smuggle a second meaning in.
 */
export function httpsUrl(v: string): string | undefined {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "must be the issuer's https:// URL";
  }
  if (url.protocol !== 'https:') return 'must use https (keys travel over it)';
  if (url.search || url.hash || url.username || url.password) return 'must be a plain https:// URL, without a query, fragment or user info';
  return undefined;
}

/** The same, or empty (the command says when it is needed). */
export function httpsUrlOrEmpty(v: string): string | undefined {
  return v === '' ? undefined : httpsUrl(v);
}

/** A Kubernetes resource quantity as a pod spec takes it. */
export function quantity(v: string): string | undefined {
  return /^([0-9]+(\.[0-9]+)?)(m|Ki|Mi|Gi|k|M|G)?$/.test(v) ? undefined : 'must be a Kubernetes quantity such as 64Mi or 100m';
}
