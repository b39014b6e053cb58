import { describe, expect, it } from 'vitest';
import { ValetError } from '../platform/errors.ts';
import { helpText } from './help.ts';
import { boolean, choice, custom, integer, list, number, Problem, repeated, string, type Options } from './options.ts';
import { command, invalid, parseCommandLine, parseConfig } from './parse.ts';

interface Values {
  readonly name: string;
  readonly count: number;
  readonly ratio: number;
  readonly verbose: boolean;
  readonly level: 'low' | 'high';
  readonly tags: readonly string[];
  readonly items: readonly string[];
  readonly mode: number;
  readonly token: string;
}

const OPTIONS: Options<Values> = {
  name: string({ flag: 'name', env: 'T_NAME', default: 'anon', description: 'A name.' }),
  count: integer({ flag: 'count', env: 'T_COUNT', default: 3, min: 1, max: 10, description: 'How many.' }),
  ratio: number({ flag: 'ratio', env: 'T_RATIO', default: 0.5, description: 'A fraction.', check: (v) => (v < 1 ? undefined : 'must be below 1') }),
  verbose: boolean({ flag: 'verbose', env: 'T_VERBOSE', default: false, description: 'Say more.' }),
  level: choice(['low', 'high'], { flag: 'level', default: 'low', description: 'How high.' }),
  tags: list({ flag: 'tags', env: 'T_TAGS', default: ['a'], description: 'Tags.' }),
  items: repeated({
    flag: 'item',
    short: 'i',
    env: 'T_ITEMS',
    envSeparator: ';',
    default: [],
    description: 'An item.',
    item: (raw) => {
      if (!raw.includes(':')) throw new Problem('must be <kind>:<value>');
      return raw;
    },
  }),
  mode: custom({
    flag: 'mode',
    default: 0o600,
    description: 'A file mode.',
    read: (raw) => {
      if (!/^0?[0-7]{3}$/.test(raw)) throw new Problem('must be an octal mode');
      return parseInt(raw, 8);
    },
    show: (v) => `0${v.toString(8)}`,
  }),
  token: string({ env: 'T_TOKEN', secret: true, default: '', description: 'A secret.', check: (v) => (v === '' || v.length === 20 ? undefined : 'must be 20 characters') }),
};

const TEST = command<Values, Values>({
  name: 'test',
  usage: 'valet test [flags]',
  summary: 'A command for the tests.',
  options: OPTIONS,
  finish: (v, { name }) => {
    if (v.level === 'high' && v.count < 5) throw invalid(`${name('level')} high needs ${name('count')} of 5 or more, got ${v.count}; token ${v.token}`);
    return v;
  },
});

const parse = (argv: string[], env: Record<string, string> = {}) => parseConfig(TEST, argv, env);
const message = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ValetError);
    expect((err as ValetError).code).toBe('InvalidConfig');
    return (err as Error).message;
  }
  throw new Error('did not throw');
};

describe('the configuration parser', () => {
  it('takes a flag over its environment variable, and the variable over the default', () => {
    expect(parse([]).count).toBe(3);
    expect(parse([], { T_COUNT: '5' }).count).toBe(5);
    expect(parse(['--count=7'], { T_COUNT: '5' }).count).toBe(7);
    expect(parse(['--name', 'flag'], { T_NAME: 'env' }).name).toBe('flag');
  });

  it('counts an empty variable as unset, but an empty flag as empty', () => {
    expect(parse([], { T_NAME: '' }).name).toBe('anon');
    expect(parse(['--name='], { T_NAME: 'env' }).name).toBe('');
  });

  it('reads --flag=value and --flag value, and the last of a flag given twice', () => {
    expect(parse(['--name=a=b']).name).toBe('a=b');
    expect(parse(['--name', 'x', '--name', 'y']).name).toBe('y');
  });

  it('reads each type', () => {
    const c = parse(['--count', '10', '--ratio=.25', '--verbose', '--level=high', '--tags= x, y ,,', '--mode=0640']);
    expect(c).toMatchObject({ count: 10, ratio: 0.25, verbose: true, level: 'high', tags: ['x', 'y'], mode: 0o640 });
    expect(parse(['--tags=']).tags).toEqual([]);
    expect(parse([], { T_TAGS: 'p,q', T_RATIO: '0.75' })).toMatchObject({ tags: ['p', 'q'], ratio: 0.75 });
  });

  it('takes booleans alone, with =true/false, followed by true/false, and from the environment', () => {
    expect(parse(['--verbose']).verbose).toBe(true);
    expect(parse(['--verbose=false']).verbose).toBe(false);
    expect(parse(['--verbose', 'false', '--count=4']).verbose).toBe(false);
    expect(parse(['--verbose', 'true']).verbose).toBe(true);
    expect(parse([], { T_VERBOSE: 'true' }).verbose).toBe(true);
    expect(parse(['--verbose=false'], { T_VERBOSE: 'true' }).verbose).toBe(false);
    expect(message(() => parse(['--verbose=yes']))).toBe("--verbose must be true or false, got 'yes'");
    expect(message(() => parse([], { T_VERBOSE: '1' }))).toBe("T_VERBOSE must be true or false, got '1'");
  });

  it('adds up a repeatable flag, short or long, which replaces the environment\'s values', () => {
    expect(parse(['--item=a:1', '-i', 'b:2', '-ic:3']).items).toEqual(['a:1', 'b:2', 'c:3']);
    expect(parse([], { T_ITEMS: 'a:1;;b:2' }).items).toEqual(['a:1', 'b:2']);
    expect(parse(['--item=z:9'], { T_ITEMS: 'a:1;b:2' }).items).toEqual(['z:9']);
    expect(message(() => parse(['--item=a:1', '--item=b']))).toBe("--item must be <kind>:<value>, got 'b'");
    expect(message(() => parse([], { T_ITEMS: 'a:1;nope' }))).toBe("T_ITEMS must be <kind>:<value>, got 'nope'");
  });

  it('names an unknown flag, and the one meant when it is close', () => {
    expect(message(() => parse(['--cuont=2']))).toBe("unknown flag --cuont (did you mean --count?); run 'valet test --help' for the flags");
    expect(message(() => parse(['--frobnicate']))).toMatch(/^unknown flag --frobnicate; run 'valet test --help'/);
    expect(message(() => parse(['-x']))).toMatch(/^unknown flag -x;/);
    // A secret is never a flag: flags show in ps.
    expect(message(() => parse(['--token=abc']))).toMatch(/^unknown flag --token;/);
    expect(message(() => parse(['stray']))).toMatch(/^unexpected argument 'stray'/);
  });

  it('says when a flag has no value, rather than taking the next flag as one', () => {
    expect(message(() => parse(['--name']))).toBe('--name needs a value');
    expect(message(() => parse(['--name', '--verbose']))).toMatch(/^--name needs a value \(got the flag '--verbose'; to give a value that starts with '-', write --name=VALUE\)/);
    expect(parse(['--name=--verbose']).name).toBe('--verbose');
  });

  it('names the flag or variable and the bad value', () => {
    expect(message(() => parse(['--count=two']))).toBe("--count must be a whole number, got 'two'");
    expect(message(() => parse(['--count=0']))).toBe("--count must be between 1 and 10, got '0'");
    expect(message(() => parse([], { T_COUNT: '11' }))).toBe("T_COUNT must be between 1 and 10, got '11'");
    expect(message(() => parse(['--ratio=1']))).toBe("--ratio must be below 1, got '1'");
    expect(message(() => parse(['--ratio=half']))).toBe("--ratio must be a number, got 'half'");
    expect(message(() => parse(['--level=mid']))).toBe("--level must be low or high, got 'mid'");
    expect(message(() => parse(['--mode=999']))).toBe("--mode must be an octal mode, got '999'");
    expect(message(() => parse(['--level=high']))).toMatch(/^--level high needs --count \(or T_COUNT\) of 5 or more, got 3/);
  });

  it('never shows the value of a secret, whoever writes the message', () => {
    const secret = 'not-twenty-chars-long-secret';
    const own = message(() => parse([], { T_TOKEN: secret }));
    expect(own).toBe('T_TOKEN must be 20 characters, got a value that is not shown (secret)');
    const good = 'S'.repeat(20);
    expect(parse([], { T_TOKEN: good }).token).toBe(good);
    // The command's own check puts the token in its message; the parser takes it out.
    const between = message(() => parse(['--level=high'], { T_TOKEN: good }));
    expect(between).not.toContain(good);
    expect(between).toContain('token <secret>');
  });

  it('returns a deeply frozen configuration', () => {
    const c = parse(['--item=a:1']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.items)).toBe(true);
    expect(Object.isFrozen(c.tags)).toBe(true);
  });

  it('answers --help and -h with help, whatever else is on the line', () => {
    for (const argv of [['--help'], ['-h'], ['--count=0', '--help']]) {
      const r = parseCommandLine(TEST, argv, {});
      expect('help' in r && r.help).toBe(helpText(TEST));
    }
    expect(() => parse(['--help'])).toThrow(/--help asks for valet test's help/);
  });
});

describe('--help', () => {
  const help = helpText(TEST);

  it('shows every option with its default and its environment variable', () => {
    expect(help).toMatch(/^Usage: valet test \[flags\]\n\nA command for the tests\./);
    expect(help).toContain('  --count=N\n      How many.\n      [default: 3; env: T_COUNT]\n');
    expect(help).toContain('  --verbose[=true|false]\n      Say more.\n      [default: false; env: T_VERBOSE]\n');
    expect(help).toContain('  --level=low|high\n      How high.\n      [default: low]\n');
    expect(help).toContain('  --tags=A,B\n      Tags.\n      [default: a; env: T_TAGS]\n');
    expect(help).toContain("  -i, --item=VALUE\n      An item.\n      [default: none; env: T_ITEMS; repeatable (';'-separated in the environment)]\n");
    expect(help).toContain('  --mode=VALUE\n      A file mode.\n      [default: 0600]\n');
    expect(help).toContain('  T_TOKEN=VALUE\n      A secret.\n      [default: ""; environment only; secret: never shown]\n');
    expect(help).toMatch(/A flag wins over\s+its environment variable, and the variable over the default/);
  });
});

describe('declarations', () => {
  it('refuse a secret that could be a flag', () => {
    expect(() => string({ flag: 'password', secret: true, default: '', description: 'x' })).toThrow(/secrets come from the environment only/);
  });
});
