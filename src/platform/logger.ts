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
const SECRET_FIELD = /(secret|password|token|authorization|sessiontoken|privatekey|credential)/i;

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  const out: Fields = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_FIELD.test(k) ? '[redacted]' : redact(v, depth + 1);
  return out;
}

export function createLogger(opts: { level?: Level; write?: (line: string) => void; bindings?: Fields; clock?: () => number } = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.clock ?? Date.now;
  const bindings = opts.bindings ?? {};
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...(redact({ ...bindings, ...fields }) as Fields) }));
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
