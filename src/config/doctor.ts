// `valet doctor` configuration, declared once: whose environment to check, and how.
import { boolean, integer, string, type Options } from './options.ts';
import { command, invalid } from './parse.ts';

export interface DoctorConfig {
  /** Check the environment and files of this process (through /proc); empty: this process. */
  readonly pid: string;
  /** Check NAME=VALUE lines from this file; empty: this process. */
  readonly envFile: string;
  /** One JSON object instead of text. */
  readonly json: boolean;
  /** Do not contact the store to compare clocks. */
  readonly noStore: boolean;
  /** Deadline of each request, to the sidecar and to the store. */
  readonly timeoutSeconds: number;
}

const OPTIONS: Options<DoctorConfig> = {
  pid: string({
    flag: 'pid',
    default: '',
    defaultText: 'this process',
    placeholder: 'N',
    description:
      'Check the environment and files of process N, for example PID 1 of the app container, from ' +
      '`kubectl debug -it <pod> --image=<valet image> --target=<app container> -- node /app/src/cli/main.ts doctor --pid 1`.',
    check: (v) => (v === '' || /^\d{1,9}$/.test(v) ? undefined : 'must be a process id'),
  }),
  envFile: string({ flag: 'env-file', default: '', defaultText: 'this process', placeholder: 'FILE', description: 'Check NAME=VALUE lines, e.g. from `kubectl exec <pod> -c <app> -- env`.' }),
  json: boolean({ flag: 'json', default: false, description: 'Print one JSON object instead of text.' }),
  noStore: boolean({ flag: 'no-store', default: false, description: 'Do not contact the store to compare clocks.' }),
  timeoutSeconds: integer({ flag: 'timeout-seconds', default: 3, min: 1, max: 999, placeholder: 'SECONDS', description: 'Deadline of each request (to the sidecar, to the store).' }),
};

export const DOCTOR_COMMAND = command<DoctorConfig, DoctorConfig>({
  name: 'doctor',
  usage: 'valet doctor [--pid N | --env-file FILE] [--json] [--no-store] [--timeout-seconds N]',
  summary:
    "Checks that AWS SDKs in this container will find Valet's keys: the injected variables, variables that compete with them, " +
    "shared credentials files, the sidecar's answer, and the clock against the store's. Prints each problem with its fix, and " +
    'never a key, a token or a signature.',
  options: OPTIONS,
  notes: 'Exit status: 0 when nothing is wrong, 1 otherwise, 2 for bad usage.',
  finish: (c, { name }) => {
    if (c.pid && c.envFile) throw invalid(`give ${name('pid')} or ${name('envFile')}, not both`);
    return c;
  },
});
