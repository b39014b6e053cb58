#!/usr/bin/env node
// The one entry point of the image: `valet <command>`. The only place that reads process.env,
// exits, or builds real clients (STYLE.md).
import { valetVersion } from '../platform/version.ts';
// Commands are imported when run, so `valet sidecar` (in every pod) never loads the operator's
// dependencies (client-node, express, the webhook): a third less memory at idle, faster start.

const HELP = `valet: short-lived, scoped object-storage keys for Kubernetes pods

Usage: valet <command> [options]

Commands:
  operator   run the controller, admission webhook and key issuer
  sidecar    run in a pod: fetch, serve, refresh and presign keys
  policy     render the grant a DatasetAccess would get: s3 session policy, SAS or signed-URL scope (offline)
  doctor     check, inside a pod, that its SDKs will find Valet's keys, and say how to fix what is wrong
  version    print the version
  help       print this help

Run 'valet <command> --help' for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(`valet ${valetVersion()} (node ${process.version})\n`);
      return 0;
    case 'operator':
      return (await import('./operator.ts')).operatorCommand(rest, process.env);
    case 'sidecar':
      return (await import('./sidecar.ts')).sidecarCommand(rest, process.env);
    case 'policy':
      return (await import('./policy.ts')).policyCommand(rest, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    case 'doctor':
      return (await import('./doctor.ts')).runDoctor(rest, process.env, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
    default:
      process.stderr.write(`valet: unknown command '${command}'\n\n${HELP}`);
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`valet: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
