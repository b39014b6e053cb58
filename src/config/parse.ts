// The one parser: a command's declarations, its argv and the environment (passed in by src/cli)
// turned into a frozen, validated configuration. A flag wins over its environment variable, the
// variable over the default; an empty variable counts as unset. Errors are ValetError
// InvalidConfig naming the flag or variable and the bad value, never a secret's value.
import { parseArgs } from 'node:util';
import { ValetError } from '../platform/errors.ts';
import { Problem, type AnyOption, type Options } from './options.ts';
import { helpText } from './help.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where a value came from. */
export type Source = 'flag' | 'env' | 'default';

/** What a command's `finish` gets besides the values: how to name them, and the environment. */
export interface FinishContext<V> {
  /** How to name an option in a message: the flag or variable its value came from. */
  readonly name: (key: keyof V & string) => string;
  readonly source: (key: keyof V & string) => Source;
  /** The environment, for defaults computed from it (HOSTNAME). */
  readonly env: Env;
}

/** A group of options under one heading in --help and docs. */
export interface Section<V> {
  readonly title: string;
  readonly keys: readonly (keyof V & string)[];
}

/** What help and docs read of a command: everything but how it finishes. */
export interface CommandDeclarations {
  /** `operator`, as in `valet operator`. */
  readonly name: string;
  /** The usage line after "Usage: ". */
  readonly usage: string;
  /** What the command does: a paragraph for --help and docs. */
  readonly summary: string;
  readonly options: Readonly<Record<string, AnyOption>>;
  /** Headings for the options; without them, one list. */
  readonly sections?: readonly { readonly title: string; readonly keys: readonly string[] }[];
  /** Said after the options in --help and docs. */
  readonly notes?: string;
}

export interface CommandSpec<V, C> extends Omit<CommandDeclarations, 'options' | 'sections'> {
  readonly options: Options<V>;
  readonly sections?: readonly Section<V>[];
  /** The values to the configuration: checks between options, computed defaults. Throws invalid(). */
  readonly finish: (values: V, ctx: FinishContext<V>) => C;
}

/** A command as help and docs read it. */
const declarations = <V, C>(cmd: CommandSpec<V, C>): CommandDeclarations => cmd as unknown as CommandDeclarations;

/** Declares a command (the identity; it gives TypeScript the types of V and C). */
export function command<V, C>(spec: CommandSpec<V, C>): CommandSpec<V, C> {
  return Object.freeze(spec);
}

/** The error every configuration problem is. */
export function invalid(message: string): ValetError {
  return new ValetError('InvalidConfig', message, 400);
}

const MAX_SHOWN = 200;

function quote(text: string): string {
  return `'${text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text}'`;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length] ?? 0;
}

function suggestion(name: string, flags: readonly string[]): string {
  const best = flags.map((f) => ({ f, d: distance(name, f) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean --${best.f}?)` : '';
}

/** Replaces every secret value in a message, whoever wrote the message. */
function scrub(err: unknown, secrets: readonly string[]): unknown {
  if (!(err instanceof Error) || secrets.length === 0) return err;
  let message = err.message;
  for (const s of secrets) message = message.replaceAll(s, '<secret>');
  if (message === err.message) return err;
  return err instanceof ValetError ? new ValetError(err.code, message, err.httpStatus) : new Error(message);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** What was given for one option: the raw texts, in order. */
interface Given {
  readonly source: 'flag' | 'env';
  readonly raws: string[];
}

/** The flags of argv, by option key; throws on unknown flags, missing values and stray arguments. */
function readArgv(cmd: CommandDeclarations, argv: readonly string[]): { help: boolean; given: Map<string, Given> } {
  const options = cmd.options;
  const byFlag = new Map<string, [string, AnyOption]>();
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple: true }> = { help: { type: 'boolean', short: 'h', multiple: true } };
  for (const [key, o] of Object.entries(options)) {
    if (!o.flag) continue;
    byFlag.set(o.flag, [key, o]);
    config[o.flag] = { type: o.kind === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}), multiple: true };
  }
  // Not strict: node's strict mode refuses `--leader-elect=false`, and its messages do not name
  // the command's flags the way ours do. The tokens are checked here instead.
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  const given = new Map<string, Given>();
  let help = false;
  const consumed = new Set<number>();
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t];
    if (!token || token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (consumed.has(token.index)) continue;
      throw invalid(`unexpected argument ${quote(token.value)}: valet ${cmd.name} takes flags only; run 'valet ${cmd.name} --help' for them`);
    }
    if (token.name === 'help') {
      help = true;
      continue;
    }
    const found = byFlag.get(token.name);
    if (!found) throw invalid(`unknown flag ${token.rawName}${suggestion(token.name, [...byFlag.keys()])}; run 'valet ${cmd.name} --help' for the flags`);
    const [key, o] = found;
    const flag = `--${o.flag}`;
    let raw = token.value;
    if (o.kind === 'boolean' && raw === undefined) {
      // `--leader-elect false`: a boolean takes a following true or false.
      const next = tokens[t + 1];
      if (next?.kind === 'positional' && next.index === token.index + 1 && (next.value === 'true' || next.value === 'false')) {
        raw = next.value;
        consumed.add(next.index);
      } else raw = 'true';
    }
    if (raw === undefined) throw invalid(`${flag} needs a value`);
    // `--namespace --leader-elect` is a forgotten value, not a namespace called "--leader-elect".
    if (token.inlineValue === false && raw.startsWith('-') && raw.length > 1) throw invalid(`${flag} needs a value (got the flag ${quote(raw)}; to give a value that starts with '-', write ${flag}=VALUE)`);
    const g = given.get(key);
    if (g) g.raws.push(raw);
    else given.set(key, { source: 'flag', raws: [raw] });
  }
  return { help, given };
}

/** The whole parse; help is returned, not printed. */
export function parseCommandLine<V, C>(cmd: CommandSpec<V, C>, argv: readonly string[], env: Env = {}): { readonly help: string } | { readonly config: C } {
  const options = declarations(cmd).options;
  const { help, given } = readArgv(declarations(cmd), argv);
  if (help) return { help: helpText(declarations(cmd)) };

  for (const [key, o] of Object.entries(options)) {
    const text = o.env === undefined ? undefined : env[o.env];
    if (given.has(key) || text === undefined || text === '') continue;
    given.set(key, { source: 'env', raws: o.repeatable && o.envSeparator !== undefined ? text.split(o.envSeparator).filter((v) => v !== '') : [text] });
  }
  const secrets = Object.entries(options).flatMap(([key, o]) => (o.secret ? (given.get(key)?.raws ?? []).filter((r) => r !== '') : []));

  const name = (key: string): string => {
    const o = options[key];
    if (!o) return key;
    const source = given.get(key)?.source ?? 'default';
    if (source === 'flag' || (source === 'default' && !o.env)) return `--${o.flag}`;
    if (source === 'env' || !o.flag) return String(o.env);
    return `--${o.flag} (or ${o.env})`;
  };
  const values: Record<string, unknown> = {};
  try {
    for (const [key, o] of Object.entries(options)) {
      const g = given.get(key);
      const shown = (text: string) => (o.secret ? 'a value that is not shown (secret)' : quote(text));
      let value: unknown = o.default;
      let text = o.show(o.default);
      if (g) {
        const read = (raw: string): unknown => {
          try {
            return o.read(raw);
          } catch (err) {
            if (err instanceof Problem) throw invalid(`${name(key)} ${err.message}, got ${shown(raw)}`);
            throw err;
          }
        };
        if (o.repeatable) {
          // The values given replace the default; a variable of separators only leaves it.
          const each = g.raws.map(read);
          value = each.length === 0 ? o.default : each.reduce((a, b) => o.combine(a, b));
          text = g.raws.join(g.source === 'env' ? (o.envSeparator ?? ',') : ' ');
        } else {
          text = g.raws[g.raws.length - 1] ?? '';
          value = read(text);
        }
      }
      const problem = o.check(value);
      if (problem !== undefined) throw invalid(`${name(key)} ${problem}, got ${shown(text)}`);
      values[key] = value;
    }
    const ctx: FinishContext<V> = { name, source: (key) => given.get(key)?.source ?? 'default', env };
    return { config: deepFreeze(cmd.finish(values as V, ctx)) };
  } catch (err) {
    throw scrub(err, secrets);
  }
}

/** The configuration of argv and env; --help is an error here (commands use parseCommandLine). */
export function parseConfig<V, C>(cmd: CommandSpec<V, C>, argv: readonly string[], env: Env = {}): C {
  const parsed = parseCommandLine(cmd, argv, env);
  if ('help' in parsed) throw invalid(`--help asks for valet ${cmd.name}'s help, not a configuration`);
  return parsed.config;
}
