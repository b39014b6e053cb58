// Writes docs/flags.md from the option declarations in src/config/ (`npm run flags-doc`). A unit
// test (src/config/flags-doc.test.ts) fails when the committed file differs from what this writes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flagsDoc } from '../src/config/commands.ts';

const file = join(import.meta.dirname, '..', 'docs', 'flags.md');
const text = flagsDoc();
let before = '';
try {
  before = readFileSync(file, 'utf8');
} catch {
  // not written yet
}
if (before === text) process.stdout.write('docs/flags.md is up to date\n');
else {
  writeFileSync(file, text);
  process.stdout.write('wrote docs/flags.md\n');
}
