// `valet sidecar`: runs in each injected pod. Fetches keys from the issuer with the pod's projected
// token, serves them on 127.0.0.1 to the app's AWS SDKs, refreshes them, presigns URLs, keeps
// manifest files, and exports metrics and probes on the metrics address. A native sidecar gets
// SIGTERM only after every app container has exited, so by default it stops at once (a Job's pod
// completes without waiting); --grace-period-seconds keeps serving valid keys that long first, for
// setups where the app may outlive the signal. A second signal exits at once.
import { readFileSync } from 'node:fs';
import { parseCommandLine } from '../config/parse.ts';
import { SIDECAR_COMMAND } from '../config/sidecar.ts';
import { systemClock } from '../platform/clock.ts';
import { ValetError } from '../platform/errors.ts';
import { createLogger } from '../platform/logger.ts';
import { registerProcessMetrics } from '../metrics/process.ts';
import { Registry } from '../metrics/prom-core.ts';
import { issuerCaProblem } from '../sidecar/issuer-client.ts';
import { startSidecar } from '../sidecar/sidecar.ts';

export async function sidecarCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(SIDECAR_COMMAND, argv, env);
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return 0;
  }
  const config = parsed.config;
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
  // A few process metrics, not prom-client's defaults: ~3.5 MB less in every pod (docs/performance.md §6).
  registerProcessMetrics(registry);
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
