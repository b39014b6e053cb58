// The README's main command, `npm run demo`, run as a person runs it: it must reach its end, exit 0
// and leave nothing behind (it checks that itself, and the lab's global teardown checks again).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeUnsupported } from './lab/node/node.ts';

const unsupported = nodeUnsupported();

describe.skipIf(unsupported !== undefined)(`npm run demo${unsupported ? ` (skipped: ${unsupported})` : ''}`, () => {
  it('installs Valet with helm on the lab node and runs a training Job to Complete: shards read, checkpoints written, everything else refused', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'lab', 'cli.ts'), 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/node valet-lab-node kubelet v1\.\d+\.\d+ on containerd:\/\//);
    expect(stdout).toMatch(/2 operator pods Ready, valet-\S+ leads/);
    expect(stdout).toContain('restartPolicy Always (a native sidecar)');
    expect(stdout).toContain('audience valet.dev');
    expect(stdout).toMatch(/AWS_CONTAINER_CREDENTIALS_FULL_URI=http:\/\/127\.0\.0\.1:\d+\/v1\/credentials/);
    for (const i of [0, 1, 2, 3]) {
      expect(stdout).toMatch(new RegExp(`\\[trainer ${i}\\] ok +read +\\(reads=2 `));
      expect(stdout).toContain(`[trainer ${i}] ok       checkpoint  (key=checkpoints/train/rank-${i}.pt)`);
      expect(stdout.match(new RegExp(`\\[trainer ${i}\\] refused .*code=AccessDenied`, 'g'))).toHaveLength(3);
    }
    expect(stdout).toMatch(/VERDICT: Job train Complete in \d+ s on a real kubelet/);
    expect(stdout).toContain('Everything stopped; nothing left running.');
  }, 600_000);
});
