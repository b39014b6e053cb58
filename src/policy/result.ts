// The shape every decision in this folder returns (STYLE.md habit 2): ok, or a stable reason and
// a message for people that names the field and the values involved, and never a secret.
export type Check<Reason extends string = string> = { ok: true } | { ok: false; reason: Reason; message: string };

/** Quotes a value for a message: JSON escapes make control characters visible; long values are cut. */
export function quote(value: string, max = 200): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

/** Lists values for a message, at most `max` of them. */
export function quoteList(values: readonly string[], max = 10): string {
  const shown = values.slice(0, max).map((v) => quote(v));
  const more = values.length > max ? `, and ${values.length - max} more` : '';
  return `[${shown.join(', ')}${more}]`;
}
