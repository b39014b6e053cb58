// The README's main command, `npm run demo`, run as a person runs it: it must reach its end, exit 0
// and leave nothing behind (the lab's global teardown fails the run if a server is left).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('shows a pod reading its dataset and writing its checkpoint, refused everywhere else, and exits 0', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'lab', 'cli.ts'), 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('restartPolicy Always');
    expect(stdout).toMatch(/ok {6}read shards: \d+ bytes from 3 shards/);
    expect(stdout).toContain('ok      write checkpoints/step-100.pt');
    expect(stdout.match(/REFUSED .*: AccessDenied/g)).toHaveLength(5);
    expect(stdout).toMatch(/AccessKeyId (\S+) -> (?!\1)\S+/);
    expect(stdout).toContain('with short-lived keys that could do nothing else');
    expect(stdout).toContain('Everything stopped; nothing left running.');
  }, 180_000);
});
