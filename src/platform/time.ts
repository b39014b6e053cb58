// Time as Valet writes it on the wire and in status: RFC 3339 in UTC, whole seconds, a Z.

/** RFC 3339, UTC, whole seconds (truncated): `2026-12-05T20:44:57Z`. */
export function rfc3339(t: Date | number): string {
  const ms = typeof t === 'number' ? t : t.getTime();
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
