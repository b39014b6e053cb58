// WebDataset shards as a data team makes them: GNU tar archives of samples, each sample two files
// (`<stem>.txt` and `<stem>.cls`) that share a stem. Used by the loader suite and the client matrix.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Shard `index` of `samples` samples, made under `dir`; its bytes. */
export function makeWdsShard(dir: string, index: number, samples: number): Buffer {
  const src = join(dir, `shard-${index}`);
  mkdirSync(src, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < samples; i++) {
    const stem = `sample${String(index * 100 + i).padStart(5, '0')}`;
    writeFileSync(join(src, `${stem}.txt`), `caption ${index}/${i}`);
    writeFileSync(join(src, `${stem}.cls`), String(i % 10));
    files.push(`${stem}.txt`, `${stem}.cls`);
  }
  const out = join(dir, `shard-${index}.tar`);
  execFileSync('tar', ['--format', 'gnu', '-cf', out, '-C', src, ...files]);
  return readFileSync(out);
}
