// How a command declares its options: once, with name, type, default, environment variable,
// description and validation. The parser (parse.ts), --help and docs/flags.md (help.ts) all read
// these declarations, so none of them can drift from the others.

/** What a value is, for help and docs. `list` is comma-separated; `repeated` comes once per flag. */
export type OptionKind = 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'repeated';

/** Thrown by an option's reader: `phrase` completes "<flag> …", e.g. "must be a whole number". */
export class Problem extends Error {
  override name = 'Problem';
}

export interface OptionSpec<T> {
  readonly kind: OptionKind;
  /** The flag without its dashes (`issuer-url`); absent: the option comes from the environment only. */
  readonly flag?: string;
  /** A one-letter alias (`f` for `-f`). */
  readonly short?: string;
  /** The environment variable read when the flag is not given. */
  readonly env?: string;
  readonly default: T;
  /** How help and docs show the default when it is computed (from another option or the environment). */
  readonly defaultText?: string;
  /** One sentence or a few, for --help and docs/flags.md. */
  readonly description: string;
  /** Never echoed: errors say a value is wrong without showing it. Secrets are environment-only. */
  readonly secret: boolean;
  /** The value's name in help: `--workers=N`. */
  readonly placeholder: string;
  /** The flag may be given several times; its values add up (and replace the environment's). */
  readonly repeatable: boolean;
  /** For a repeatable option: what separates its values in the environment variable. */
  readonly envSeparator?: string;
  // Methods, not function properties: an OptionSpec<number> is then an OptionSpec<unknown> too,
  // which is how the parser, help and docs hold options of every type.
  /** One occurrence's text to its value; throws Problem. */
  read(raw: string): T;
  /** Adds one occurrence's value to the ones before it (repeatable options). */
  combine(before: T, next: T): T;
  /** The final value's problem ("must be between 1 and 64"), or undefined when it is fine. */
  check(value: T): string | undefined;
  /** The value as a flag would take it, for showing defaults. */
  show(value: T): string;
}

/** An option of any type, as the parser, help and docs hold it. */
export type AnyOption = OptionSpec<unknown>;

/** Declarations for every field of a command's values. */
export type Options<V> = { readonly [K in keyof V]: OptionSpec<V[K]> };

/** What every option's declaration takes. */
export interface Common<T> {
  readonly flag?: string;
  readonly short?: string;
  readonly env?: string;
  readonly default: T;
  readonly defaultText?: string;
  readonly description: string;
  readonly secret?: boolean;
  readonly placeholder?: string;
  /** A problem with the value, or undefined; runs after the built-in checks of the type. */
  readonly check?: (value: T) => string | undefined;
}

const last = <T>(_before: T, next: T): T => next;
const noCheck = (): undefined => undefined;

type Behaviour<T> = Pick<OptionSpec<T>, 'read' | 'show' | 'placeholder'> & Partial<Pick<OptionSpec<T>, 'check' | 'combine' | 'repeatable' | 'envSeparator'>>;

function spec<T>(kind: OptionKind, o: Common<T>, rest: Behaviour<T>): OptionSpec<T> {
  if (o.secret && o.flag) throw new Error(`option --${o.flag} is secret: secrets come from the environment only (a flag shows in ps)`);
  if (!o.flag && !o.env) throw new Error('an option needs a flag, an environment variable or both');
  const own = rest.check ?? noCheck;
  const extra = o.check ?? noCheck;
  return Object.freeze({
    repeatable: false,
    combine: last,
    ...rest,
    kind,
    ...(o.flag !== undefined ? { flag: o.flag } : {}),
    ...(o.short !== undefined ? { short: o.short } : {}),
    ...(o.env !== undefined ? { env: o.env } : {}),
    ...(o.defaultText !== undefined ? { defaultText: o.defaultText } : {}),
    default: o.default,
    description: o.description,
    secret: o.secret ?? false,
    placeholder: o.placeholder ?? rest.placeholder,
    check: (v: T) => own(v) ?? extra(v),
  });
}

function range(min: number | undefined, max: number | undefined) {
  return (v: number): string | undefined => {
    if ((min === undefined || v >= min) && (max === undefined || v <= max)) return undefined;
    if (min !== undefined && max !== undefined) return `must be between ${min} and ${max}`;
    return min !== undefined ? `must be at least ${min}` : `must be at most ${max}`;
  };
}

/** "a, b or c" */
export function oneOf(values: readonly string[]): string {
  return values.length < 2 ? (values[0] ?? '') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

export function string(o: Common<string>): OptionSpec<string> {
  return spec('string', o, { read: (raw) => raw, show: (v) => v, placeholder: 'VALUE' });
}

/** A string from a fixed set. */
export function choice<const T extends string>(values: readonly T[], o: Common<NoInfer<T>>): OptionSpec<T> {
  return spec<T>('string', o, {
    read: (raw) => raw as T,
    check: (v) => (values.includes(v) ? undefined : `must be ${oneOf(values)}`),
    show: (v) => v,
    placeholder: values.join('|'),
  });
}

/** A whole number, 0 or more (at most nine digits). */
export function integer(o: Common<number> & { readonly min?: number; readonly max?: number }): OptionSpec<number> {
  return spec('integer', o, {
    read: (raw) => {
      if (!/^\d{1,9}$/.test(raw)) throw new Problem('must be a whole number');
      return Number(raw);
    },
    check: range(o.min, o.max),
    show: String,
    placeholder: 'N',
  });
}

/** A decimal number, 0 or more (`0.25`, `.5`, `3`). */
export function number(o: Common<number> & { readonly min?: number; readonly max?: number }): OptionSpec<number> {
  return spec('number', o, {
    read: (raw) => {
      if (!/^\d{0,9}(\.\d{1,9})?$/.test(raw) || raw === '') throw new Problem('must be a number');
      return Number(raw);
    },
    check: range(o.min, o.max),
    show: String,
    placeholder: 'NUMBER',
  });
}

/** `--flag` alone is true; `--flag=false`, `--flag false` and the environment take true or false. */
export function boolean(o: Common<boolean>): OptionSpec<boolean> {
  return spec('boolean', o, {
    read: (raw) => {
      if (raw !== 'true' && raw !== 'false') throw new Problem('must be true or false');
      return raw === 'true';
    },
    show: String,
    placeholder: 'true|false',
  });
}

/**
 * Comma-separated values, blanks trimmed and empty entries dropped (`--flag=` is the empty list).
 * Repeatable: each occurrence adds its values.
 */
export function list(o: Common<readonly string[]> & { readonly repeatable?: boolean }): OptionSpec<readonly string[]> {
  return spec('list', o, {
    read: (raw) => raw.split(',').map((v) => v.trim()).filter((v) => v !== ''),
    ...(o.repeatable ? { repeatable: true, combine: (a: readonly string[], b: readonly string[]) => [...a, ...b] } : {}),
    show: (v) => v.join(','),
    placeholder: 'A,B',
  });
}

/**
 * A flag given once per value (`--manifest a --manifest b`); in the environment, the values are
 * separated by `envSeparator`. `item` reads one value and throws Problem.
 */
export function repeated<I>(o: Common<readonly I[]> & { readonly item: (raw: string) => I; readonly envSeparator?: string; readonly showItem?: (item: I) => string }): OptionSpec<readonly I[]> {
  const show = o.showItem ?? String;
  return spec('repeated', o, {
    read: (raw) => [o.item(raw)],
    repeatable: true,
    combine: (a, b) => [...a, ...b],
    ...(o.envSeparator !== undefined ? { envSeparator: o.envSeparator } : {}),
    show: (v) => v.map(show).join(o.envSeparator ?? ' '),
    placeholder: 'VALUE',
  });
}

/** A value with its own reader (an octal mode, say); `show` turns a value back into flag text. */
export function custom<T>(o: Common<T> & { readonly read: (raw: string) => T; readonly show: (value: T) => string }): OptionSpec<T> {
  return spec('string', o, { read: o.read, show: o.show, placeholder: 'VALUE' });
}

/** Every option's default, as the command's values would be with no flags and no environment. */
export function defaultsOf<V>(options: Options<V>): V {
  return Object.fromEntries(Object.entries<AnyOption>(options).map(([k, o]) => [k, o.default])) as V;
}
