// Azurite on loopback: Microsoft's Azure Storage emulator, blob service only, from node_modules
// (pinned in package.json), run by this Node. It checks Shared Key and service SAS signatures,
// permissions and expiry for real, so a refusal in a lab test is Azurite's, not ours. Strict mode
// (no --loose): headers and parameters it does not support are refused, not ignored.
//
// Flags: --skipApiVersionCheck because @azure/storage-blob sends a newer x-ms-version than
// Azurite knows; --disableProductStyleUrl so the account always comes from the first path segment;
// --disableTelemetry so it never calls out. The child's argv[0] is `valet-lab-azurite`, so the
// reaper (reaper.ts, which matches on argv[0]) sees it like the Go servers and a run that leaves
// it behind fails.
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { LabError } from './build.ts';
import { assertPortFree, freePort, startProcess, waitReady, type ServerProcess } from './process.ts';

/** Azurite's built-in account and its published key (the same in every Azurite). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const packageRoot = () => dirname(createRequire(import.meta.url).resolve('azurite/package.json'));

/** The version of the installed azurite package. */
export function azuriteVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export interface AzuriteOptions {
  /** The lab folder; Azurite keeps its data in `<dir>/azurite-data`. */
  dir: string;
  /** Its log (stdout and stderr, with the access log) goes to `<logsDir>/azurite.log`. */
  logsDir: string;
  /** A fixed port (a taken one is a clear error); default a free one. */
  port?: number;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  detached?: boolean;
}

export interface AzuriteServer {
  /** The blob service URL, account path included: http://127.0.0.1:PORT/devstoreaccount1. */
  readonly endpoint: string;
  readonly port: number;
  readonly accountName: string;
  /** The account key (base64): only for the issuer's side and for setting the lab up. */
  readonly accountKey: string;
  readonly version: string;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

/** True once something that says it is Azurite's blob service answers HTTP on the port. */
function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}?restype=service&comp=properties`, { timeout: 2000 }, (res) => {
      res.resume();
      // Any status will do (anonymous: 403); the header proves it is Azurite and not a squatter.
      resolve(String(res.headers.server ?? '').startsWith('Azurite-Blob/'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function startAzurite(o: AzuriteOptions): Promise<AzuriteServer> {
  const main = join(packageRoot(), 'dist', 'src', 'blob', 'main.js');
  const version = azuriteVersion();
  let port: number;
  if (o.port !== undefined) {
    await assertPortFree(o.port, 'azurite');
    port = o.port;
  } else {
    port = await freePort();
  }
  const data = join(o.dir, 'azurite-data');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  const proc = startProcess({
    name: 'azurite',
    command: process.execPath,
    argv0: 'valet-lab-azurite',
    args: [
      main,
      '--blobHost', '127.0.0.1',
      '--blobPort', String(port),
      '--location', data,
      '--skipApiVersionCheck',
      '--disableProductStyleUrl',
      '--disableTelemetry',
    ],
    env: {
      ...o.env,
      // Nothing from our environment may change its accounts, storage or checks.
      AZURITE_ACCOUNTS: undefined,
      AZURITE_DB: undefined,
      AZURITE_SKIP_API_VERSION_CHECK: undefined,
      NODE_OPTIONS: undefined,
    },
    log: join(o.logsDir, 'azurite.log'),
    cwd: data,
    detached: o.detached,
  });
  try {
    await waitReady(proc, () => ready(port), o.timeoutMs ?? 30_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT_NAME}`,
    port,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    version,
    process: proc,
    stop: () => proc.stop(),
  };
}

/** Creates the container if it is missing and uploads the blobs (as block blobs) with the account key. */
export async function seedAzurite(server: Pick<AzuriteServer, 'endpoint' | 'accountName' | 'accountKey'>, container: string, blobs: Record<string, string | Buffer>): Promise<void> {
  const service = new BlobServiceClient(server.endpoint, new StorageSharedKeyCredential(server.accountName, server.accountKey));
  const c = service.getContainerClient(container);
  try {
    await c.createIfNotExists();
    for (const [name, body] of Object.entries(blobs)) {
      const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      await c.getBlockBlobClient(name).upload(bytes, bytes.length);
    }
  } catch (err) {
    throw new LabError(`seeding Azurite container ${container} failed: ${(err as Error).message}`, { cause: err });
  }
}
