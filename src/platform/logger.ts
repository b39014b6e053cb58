// Structured JSON logs through an injected logger with child bindings (STYLE.md habit 7). Fields
// whose names say they hold a secret are redacted before anything is written.
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(bindings: Fields): Logger;
}

const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/**
 * The one list of what a secret field is called, for every provider (issue #16): a field whose
 * name, lowercased without punctuation, contains one of these is redacted. S3/STS: secretAccessKey,
 * sessionToken, X-Amz-Security-Token, X-Amz-Signature. Azure: accountKey, the SAS `sig`. GCS: a
 * service account's private_key (and privateKeyPem), an HMAC key's secret, X-Goog-Signature.
 * Kubernetes: bearer tokens, Authorization. Plus the generic names. src/platform/logger.test.ts
 * holds every provider's key shapes to it.
 */
export const SECRET_FIELD_NAMES: readonly string[] = ['secret', 'password', 'token', 'authorization', 'privatekey', 'credential', 'accountkey', 'signature', 'sig', 'apikey', 'sas'];

const normalize = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');
/** Short names match whole; longer ones anywhere in the field name. */
const isSecretField = (name: string) => {
  const n = normalize(name);
  return SECRET_FIELD_NAMES.some((s) => (s.length <= 3 ? n === s : n.includes(s)));
};

/** Query parameters of signed URLs whose values are credentials (SigV4, Azure SAS, GOOG4). */
const SIGNED_QUERY = /([?&](?:x-amz-signature|x-amz-security-token|x-amz-credential|sig|x-goog-signature|x-goog-credential)=)[^&#\s"]*/gi;

/** A string with the credential parts of any signed URL in it replaced. */
export function redactText(text: string): string {
  return text.replace(SIGNED_QUERY, '$1[redacted]');
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redactText(value.message), code: (value as { code?: unknown }).code };
  const out: Fields = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretField(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(opts: { level?: Level; write?: (line: string) => void; bindings?: Fields; clock?: () => number } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.clock ?? Date.now;
  const bindings = opts.bindings ?? {};
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg: redactText(msg), ...(redact({ ...bindings, ...fields }) as Fields) }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createLogger({ ...opts, bindings: { ...bindings, ...b } }),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(level: Level = 'debug'): Logger & { lines: Fields[] } {
  const lines: Fields[] = [];
  const log = createLogger({ level, write: (l) => lines.push(JSON.parse(l) as Fields) });
  return Object.assign(log, { lines });
}
