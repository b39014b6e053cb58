// `valet sidecar` refuses to start without a usable issuer CA: a missing, empty or non-PEM file is
// a startup error, never a silent fallback to the public roots (issue #16). The real CLI, as a
// process; no server is needed because it must stop before it dials anything.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issuerCaProblem, readTokenAndCa } from '../../src/sidecar/issuer-client.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'valet-sidecar-ca-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function sidecar(caFile: string) {
  return spawnSync(process.execPath, [main, 'sidecar', '--issuer-url', 'https://127.0.0.1:1', '--issuer-ca-file', caFile, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
}

describe('the issuer CA file', () => {
  it('missing, empty, blank or without a PEM certificate: the sidecar exits at startup, naming the flag and the problem', () => {
    const cases: [string, string | undefined, string][] = [
      ['missing.crt', undefined, 'cannot read'],
      ['empty.crt', '', 'is empty'],
      ['blank.crt', '  \n', 'is empty'],
      ['garbage.crt', 'not a certificate\n', 'holds no PEM certificate'],
    ];
    for (const [name, content, why] of cases) {
      const file = join(dir, name);
      if (content !== undefined) writeFileSync(file, content);
      const r = sidecar(file);
      expect(r.status, `${name}: ${r.stderr}`).toBe(1);
      expect(r.stderr, name).toContain('--issuer-ca-file');
      expect(r.stderr, name).toContain(why);
    }
  });

  it('while running, an emptied CA file is CaUnavailable for that fetch, not the public roots', async () => {
    const files: Record<string, string> = { '/t': 'token', '/ca': '' };
    const read = (p: string) => Promise.resolve(files[p] ?? '');
    expect(await readTokenAndCa({ tokenFile: '/t', caFile: '/ca' }, read)).toMatchObject({ ok: false, code: 'CaUnavailable', message: 'the issuer CA file /ca is empty' });
    files['/ca'] = PEM;
    expect(await readTokenAndCa({ tokenFile: '/t', caFile: '/ca' }, read)).toEqual({ ok: true, token: 'token', ca: PEM });
    expect(issuerCaProblem('/ca', PEM)).toBeUndefined();
  });
});
