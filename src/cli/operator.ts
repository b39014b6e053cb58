// `valet operator`: the controller (leader-elected through a Lease), the admission webhook and the
// key issuer (every replica), with /metrics, /healthz and /readyz on the metrics address. Parses
// its flags, builds the real clients and calls startOperator (src/operator/start.ts), the same
// composition root the tests use; on SIGTERM or SIGINT it stops everything within a bound.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { OPERATOR_COMMAND } from '../config/operator.ts';
import { parseCommandLine } from '../config/parse.ts';
import { AwsSts } from '../issuer/index.ts';
import { createClients } from '../k8s/clients.ts';
import { startOperator } from '../operator/start.ts';
import { createLogger } from '../platform/logger.ts';

/** Everything stops within this after a signal; a part still running then is named in the log. */
const STOP_BOUND_MS = 20_000;

export async function operatorCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandLine(OPERATOR_COMMAND, argv, env);
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return 0;
  }
  const { operator: config, webhook: webhookConfig } = parsed.config;
  const logger = createLogger({ level: config.logLevel, bindings: { component: 'operator', identity: config.identity } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const sts = new AwsSts();
  const signalled = new Promise<string>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve(sig));
  });
  const operator = await startOperator(config, webhookConfig, { clients: createClients(config.kubeconfig), sts, registry, logger });
  logger.info('stopping', { signal: await signalled });
  const report = await operator.stop(STOP_BOUND_MS);
  sts.destroy();
  return report.timedOut.length > 0 || report.failed.length > 0 ? 1 : 0;
}
