// The import direction of STYLE.md, held by reading the import lines of every file under src/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');

/** Which src folders each folder may import. A folder imports only folders above it. */
const ALLOWED: Record<string, readonly string[]> = {
  api: [],
  platform: [],
  tls: ['platform'],
  config: ['api', 'platform'],
  policy: ['api', 'platform'],
  metrics: ['platform'],
  providers: ['api', 'platform', 'policy'],
  injection: ['api', 'platform', 'config', 'policy'],
  issuer: ['api', 'platform', 'config', 'policy', 'providers', 'metrics'],
  k8s: ['api', 'platform', 'config', 'policy', 'providers', 'metrics'],
  controller: ['api', 'platform', 'config', 'policy', 'providers', 'k8s', 'metrics', 'tls'],
  webhook: ['api', 'platform', 'config', 'policy', 'injection', 'k8s', 'metrics', 'tls'],
  sidecar: ['api', 'platform', 'config', 'policy', 'providers', 'issuer', 'metrics'],
  operator: ['api', 'platform', 'config', 'policy', 'providers', 'injection', 'issuer', 'k8s', 'metrics', 'tls', 'controller', 'webhook'],
  cli: ['*'],
};

/** Third-party packages that only one folder (and cli, which wires them) may import. */
const OWNED: Record<string, string> = {
  '@kubernetes/client-node': 'k8s',
  '@aws-sdk/': 'issuer',
  '@smithy/': 'issuer',
  '@azure/': 'providers',
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'|import\('([^']+)'\)/gm)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
}

describe('source layout', () => {
  it('every src folder is one the layout knows', () => {
    const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory());
    expect(folders.filter((f) => !(f in ALLOWED))).toEqual([]);
  });

  it('imports flow one way, and SDKs stay in the folder that owns them', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const folder = relative(SRC, file).split('/')[0] ?? '';
      const allowed = ALLOWED[folder] ?? [];
      for (const spec of imports(file)) {
        if (spec.startsWith('.')) {
          const target = relative(SRC, resolve(dirname(file), spec)).split('/')[0] ?? '';
          if (target !== folder && !allowed.includes('*') && !allowed.includes(target)) violations.push(`${relative(SRC, file)} imports ${target}/`);
        } else {
          for (const [pkg, owner] of Object.entries(OWNED)) {
            if (spec.startsWith(pkg) && folder !== owner && folder !== 'cli') violations.push(`${relative(SRC, file)} imports ${spec} (only ${owner}/ may)`);
          }
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('no code outside src/providers/ (and the API types) branches on a store\'s provider', () => {
    const branch = /provider\s*[!=]==\s*'|case\s+'(?:s3|azureBlob|gcs)'|spec\.(?:azureBlob|gcs)\b/;
    const branching = files(SRC)
      .map((f) => relative(SRC, f))
      .filter((f) => !f.startsWith('providers/') && !f.startsWith('api/'))
      .filter((f) => readFileSync(join(SRC, f), 'utf8').split('\n').some((line) => !/^\s*(\/\/|\*|\/\*)/.test(line) && branch.test(line)));
    expect(branching).toEqual([]);
  });
});
