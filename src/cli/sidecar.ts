// `valet sidecar`: runs in each injected pod. Fetches keys from the issuer with the pod's projected
// token, serves them on 127.0.0.1 to the app's AWS SDKs, refreshes them, presigns URLs, keeps
// manifest files, and exports metrics and probes on the metrics address. A native sidecar gets
// SIGTERM only after every app container has exited, so by default it stops at once (a Job's pod
// completes without waiting); --grace-period-seconds keeps serving valid keys that long first, for
// setups where the app may outlive the signal. A second signal exits at once.
import { readFileSync } from 'node:fs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { envName, parseSidecarConfig, SIDECAR_DEFAULTS, SIDECAR_FLAG_KEYS as FLAG_KEYS, SIDECAR_FLAGS } from '../config/sidecar.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import { createLogger } from '../platform/logger.ts';
import { issuerCaProblem } from '../sidecar/issuer-client.ts';
import { startSidecar } from '../sidecar/sidecar.ts';

function describe(flag: string): string {
  if (flag === '--issuer-url') return '(required) https URL of the valet issuer';
  if (flag === '--manifest') return '<access>=<path>[,format=jsonl|urls]; repeatable (";"-separated in the environment)';
  const key = FLAG_KEYS[flag];
  const v = key === undefined ? undefined : SIDECAR_DEFAULTS[key];
  if (key === 'authTokenFileMode') return 'default 0644';
  if (Array.isArray(v)) return v.length === 0 ? 'default: none' : `default ${v.join(',')}`;
  return v === undefined || v === '' ? '' : `default ${String(v)}`;
}

const HELP = () => `Usage: valet sidecar [flags]

Serves short-lived S3 keys to the pod's containers on 127.0.0.1 (AWS container-credentials
format), presigned URLs and manifests. Every flag may also be set as VALET_<FLAG> in the
environment (e.g. --issuer-url as ${envName('--issuer-url')}); a flag wins.

Flags (--flag=value or --flag value):
${SIDECAR_FLAGS.map((f) => `  ${f.padEnd(34)}${describe(f)}`).join('\n')}

The pod's loopback token comes from VALET_POD_AUTH_TOKEN (the webhook sets it; never a flag);
without it the sidecar makes one at start.

App containers use:
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:<port>/v1/credentials[/<access>]
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=<auth-token-file>
  AWS_CONTAINER_AUTHORIZATION_TOKEN=<the pod token>
  VALET_LOADER_URL=http://127.0.0.1:<port>/v1/loader/<capability>   (docs/clients.md)
`;

export async function sidecarCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP());
    return 0;
  }
  const config = parseSidecarConfig(argv, env);
  // Fail at startup, not at the first key: a missing or empty CA file is a broken mount or
  // ConfigMap, and must never mean "trust the public roots".
  let ca: string;
  try {
    ca = readFileSync(config.issuerCaFile, 'utf8');
  } catch (err) {
    throw new ValetError('InvalidConfig', `--issuer-ca-file: cannot read ${config.issuerCaFile}: ${(err as Error).message}`, 400);
  }
  const caProblem = issuerCaProblem(config.issuerCaFile, ca);
  if (caProblem) throw new ValetError('InvalidConfig', `--issuer-ca-file: ${caProblem}`, 400);
  const logger = createLogger({ level: config.logLevel, bindings: { component: 'sidecar', pod: env.POD_NAME, namespace: env.POD_NAMESPACE } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const sidecar = await startSidecar(config, { logger, registry, clock: systemClock });

  await new Promise<void>((resolve) => {
    let terminating = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (terminating || signal === 'SIGINT') {
        logger.info('stopping now', { signal });
        return resolve();
      }
      terminating = true;
      if (config.gracePeriodSeconds === 0) {
        logger.info('SIGTERM: stopping', { signal });
        return resolve();
      }
      logger.info('SIGTERM: serving valid keys until the grace period ends', { gracePeriodSeconds: config.gracePeriodSeconds });
      setTimeout(resolve, config.gracePeriodSeconds * 1000);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await sidecar.close();
  logger.info('sidecar stopped');
  return 0;
}

if (import.meta.main) {
  sidecarCommand(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`valet sidecar: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
