// `npm run lab -- up|down|status|build` for people: start the lab and leave it running, print shell
// `export` lines to use it, say what runs, and stop it. `npm run demo` uses `demo` (see demo.ts).
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildKubeNode, cacheRoot, ensureBuilt, LabError } from './build.ts';
import { startLab } from './index.ts';
import { ensureNodeBuilt, nodeUnsupported, removeCgroupRoot } from './node/node.ts';

interface LabState {
  dir: string;
  startedAt: string;
  kubeconfig: string;
  ports: Record<string, number>;
  processes: { name: string; pid: number; binary: string }[];
  exports: Record<string, string>;
  /** The node's cgroup, removed by `down` once its processes are gone. */
  nodeCgroupRoot?: string;
}

/** Where `up` records what it started; VALET_LAB_RUN_DIR moves it (tests use their own). */
const runDir = () => process.env.VALET_LAB_RUN_DIR ?? join(cacheRoot(), 'run');
const stateFile = () => join(runDir(), 'lab.json');

function readState(): LabState | undefined {
  if (!existsSync(stateFile())) return undefined;
  return JSON.parse(readFileSync(stateFile(), 'utf8')) as LabState;
}

/** True when pid is alive and is still the binary we started (pids get reused). */
function isOurs(pid: number, binary: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === binary;
  } catch {
    return false;
  }
}

function printExports(state: LabState): void {
  for (const [k, v] of Object.entries(state.exports)) process.stdout.write(`export ${k}='${v}'\n`);
  process.stdout.write(`# logs: ${join(state.dir, 'logs')}\n# stop with: npm run lab -- down\n`);
}

async function up(flags: string[]): Promise<number> {
  const existing = readState();
  if (existing && existing.processes.some((p) => isOurs(p.pid, p.binary))) {
    process.stderr.write(`lab: already running since ${existing.startedAt}; its settings:\n`);
    printExports(existing);
    return 0;
  }
  const noNode = nodeUnsupported();
  const wantNode = !flags.includes('--no-node') && noNode === undefined;
  if (!wantNode && !flags.includes('--no-node')) process.stderr.write(`lab: starting without a node: ${noNode}\n`);
  const lab = await startLab({ detached: true, node: wantNode });
  const v = await lab.versions();
  const state: LabState = {
    dir: lab.dir,
    startedAt: new Date().toISOString(),
    kubeconfig: lab.kubeconfig,
    ports: lab.ports,
    processes: lab.processes().map((p) => ({ name: p.name, pid: p.pid, binary: p.argv0 })),
    ...(lab.node ? { nodeCgroupRoot: lab.node.cgroupRoot } : {}),
    exports: {
      KUBECONFIG: lab.kubeconfig,
      AWS_ENDPOINT_URL: lab.s3.endpoint,
      AWS_REGION: lab.s3.region,
      // The lab issuer's key: generated now, for this lab only, gone with `down`.
      AWS_ACCESS_KEY_ID: lab.s3.issuer.accessKeyId,
      AWS_SECRET_ACCESS_KEY: lab.s3.issuer.secretAccessKey,
      VALET_LAB_BUCKET: lab.s3.bucket,
    },
  };
  mkdirSync(runDir(), { recursive: true });
  writeFileSync(stateFile(), JSON.stringify(state, null, 2), { mode: 0o600 });
  process.stderr.write(
    `lab: up. kube-apiserver ${v.kubeApiserver} on https://127.0.0.1:${lab.ports.apiserver}, etcd ${v.etcd}, ` +
      `MinIO ${v.minio} on ${lab.s3.endpoint} (bucket ${lab.s3.bucket}), boto3 ${v.boto3}, awscli ${v.awscli}\n` +
      (lab.node ? `lab: node ${lab.node.name} (${lab.node.ip}) Ready; look at it with: npm run lab -- kubectl get pods -A\n` : ''),
  );
  printExports(state);
  return 0;
}

async function down(): Promise<number> {
  const state = readState();
  if (!state) {
    process.stderr.write('lab: no lab is running\n');
    return 0;
  }
  for (const p of [...state.processes].reverse()) {
    if (!isOurs(p.pid, p.binary)) continue;
    process.kill(p.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isOurs(p.pid, p.binary) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isOurs(p.pid, p.binary)) process.kill(p.pid, 'SIGKILL');
    process.stderr.write(`lab: stopped ${p.name} (pid ${p.pid})\n`);
  }
  if (state.nodeCgroupRoot) {
    const deadline = Date.now() + 10_000;
    while (!removeCgroupRoot(state.nodeCgroupRoot) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (!removeCgroupRoot(state.nodeCgroupRoot)) process.stderr.write(`lab: could not remove cgroup ${state.nodeCgroupRoot}\n`);
  }
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(stateFile(), { force: true });
  process.stderr.write('lab: down\n');
  return 0;
}

function status(): number {
  const state = readState();
  if (!state) {
    process.stdout.write('lab: not running\n');
    return 0;
  }
  process.stdout.write(`lab: started ${state.startedAt}, folder ${state.dir}\n`);
  let alive = 0;
  for (const p of state.processes) {
    const ok = isOurs(p.pid, p.binary);
    if (ok) alive++;
    process.stdout.write(`  ${p.name.padEnd(16)} pid ${String(p.pid).padEnd(8)} ${ok ? 'running' : 'NOT RUNNING'}\n`);
  }
  process.stdout.write(`  ports: ${Object.entries(state.ports).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
  return alive === state.processes.length ? 0 : 1;
}

/** `npm run lab -- kubectl ARGS`: the lab's kubectl, on the running lab. */
async function kubectl(args: string[]): Promise<number> {
  const state = readState();
  if (!state) {
    process.stderr.write('lab: no lab is running (npm run lab -- up)\n');
    return 1;
  }
  const kube = await buildKubeNode();
  const res = spawnSync(join(kube.dir, 'bin', 'kubectl'), args, { stdio: 'inherit', env: { ...process.env, KUBECONFIG: state.kubeconfig } });
  return res.status ?? 1;
}

export async function labCli(argv: string[]): Promise<number> {
  switch (argv[0]) {
    case 'up':
      return up(argv.slice(1));
    case 'kubectl':
      return kubectl(argv.slice(1));
    case 'down':
      return down();
    case 'status':
      return status();
    case 'build':
      await ensureBuilt();
      if (nodeUnsupported() === undefined && !argv.includes('--no-node')) await ensureNodeBuilt();
      return 0;
    case 'demo': {
      const { demo } = await import('./demo.ts');
      return demo();
    }
    default:
      process.stderr.write('usage: npm run lab -- up [--no-node] | down | status | build [--no-node] | kubectl ARGS\n');
      return 2;
  }
}

if (import.meta.main) {
  labCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`lab: ${err instanceof LabError || err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
