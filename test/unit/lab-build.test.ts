// The lab's build cache and prerequisites, without building anything real.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensure, LabError, requireGo, stagingReplaces } from '../lab/build.ts';

let cache: string;
const saved = { cache: process.env.VALET_LAB_CACHE, path: process.env.PATH };

beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), 'valet-cache-test-'));
  process.env.VALET_LAB_CACHE = cache;
});
afterEach(() => {
  process.env.VALET_LAB_CACHE = saved.cache;
  process.env.PATH = saved.path;
  rmSync(cache, { recursive: true, force: true });
});

describe('the lab build cache', () => {
  it('builds once and reuses the result', async () => {
    let builds = 0;
    const build = async (dir: string) => {
      builds++;
      writeFileSync(join(dir, 'bin'), 'x');
    };
    const a = await ensure('thing', 'v1', build);
    const b = await ensure('thing', 'v1', build);
    expect(builds).toBe(1);
    expect(b.dir).toBe(a.dir);
    expect(existsSync(join(a.dir, '.complete'))).toBe(true);
  });

  it('throws an interrupted build away and rebuilds instead of using it', async () => {
    await expect(
      ensure('thing', 'v1', async (dir) => {
        writeFileSync(join(dir, 'half-written'), 'x');
        throw new Error('killed mid-build');
      }),
    ).rejects.toThrow('killed mid-build');
    // A build killed outright leaves the same thing: a folder without its .complete marker.
    expect(existsSync(join(cache, 'thing-v1', 'half-written'))).toBe(true);
    let rebuilt = false;
    const done = await ensure('thing', 'v1', async (dir) => {
      expect(existsSync(join(dir, 'half-written'))).toBe(false);
      rebuilt = true;
    });
    expect(rebuilt).toBe(true);
    expect(existsSync(join(done.dir, '.complete'))).toBe(true);
  });

  it('lets parallel callers wait for one build rather than build twice', async () => {
    let builds = 0;
    const build = async () => {
      builds++;
      await new Promise((r) => setTimeout(r, 300));
    };
    await Promise.all([ensure('shared', 'v1', build), ensure('shared', 'v1', build), ensure('shared', 'v1', build)]);
    expect(builds).toBe(1);
  });

  it('takes over a lock left by a process that died', async () => {
    mkdirSync(join(cache, 'locks', 'stale-v1.lock'), { recursive: true });
    writeFileSync(join(cache, 'locks', 'stale-v1.lock', 'pid'), '999999999');
    const got = await ensure('stale', 'v1', async () => {});
    expect(existsSync(join(got.dir, '.complete'))).toBe(true);
  });
});

describe('prerequisites', () => {
  it('names Go and how to get it when go is missing', () => {
    process.env.PATH = '/nonexistent';
    expect(() => requireGo()).toThrow(LabError);
    expect(() => requireGo()).toThrow(/Go 1\.\d+ or newer is needed.*no 'go' command was found on PATH/);
  });
});

describe('the kube-apiserver wrapper module', () => {
  it('pins every staging module required at v0.0.0 to the published v0.N.M', () => {
    const goMod = readFileSync(new URL('./testdata/kubernetes-go.mod', import.meta.url), 'utf8');
    const lines = stagingReplaces(goMod, 'v1.37.2');
    expect(lines).toContain('\tk8s.io/api => k8s.io/api v0.37.2');
    expect(lines).toContain('\tk8s.io/client-go => k8s.io/client-go v0.37.2');
    // Modules required at real versions (not staging) are left alone.
    expect(lines.some((l) => l.includes('k8s.io/klog'))).toBe(false);
    expect(() => stagingReplaces(goMod, '1.37')).toThrow(/v1\.N\.M/);
  });
});
