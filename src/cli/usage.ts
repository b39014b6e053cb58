// For commands a person runs by hand (policy, doctor): --help printed, bad usage said in one line
// (an unknown flag's says where to look), exit status 2. The servers (operator, sidecar) throw
// instead, and exit 1.
import { parseCommandLine, type CommandSpec, type Env } from '../config/parse.ts';
import { ValetError } from '../platform/errors.ts';

/** The command's configuration, or the exit status when there is nothing more to do. */
export function configOrExit<V, C>(cmd: CommandSpec<V, C>, argv: readonly string[], env: Env, out: (s: string) => void, err: (s: string) => void): { config: C } | { exit: number } {
  try {
    const parsed = parseCommandLine(cmd, argv, env);
    if ('help' in parsed) {
      out(parsed.help);
      return { exit: 0 };
    }
    return parsed;
  } catch (e) {
    if (!(e instanceof ValetError)) throw e;
    err(`valet ${cmd.name}: ${e.message}\n`);
    return { exit: 2 };
  }
}
