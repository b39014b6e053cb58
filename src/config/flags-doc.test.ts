import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS, flagsDoc, FLAGS_DOC_SCRIPT } from './commands.ts';
import { helpText } from './help.ts';

const FILE = join(import.meta.dirname, '..', '..', 'docs', 'flags.md');

describe('docs/flags.md', () => {
  it('is what the declarations say: run the script after changing an option', () => {
    const committed = readFileSync(FILE, 'utf8');
    const wanted = flagsDoc();
    if (committed !== wanted) expect.fail(`docs/flags.md differs from the option declarations in src/config/: run \`${FLAGS_DOC_SCRIPT}\` and commit docs/flags.md`);
  });

  it('names every flag and environment variable that --help names', () => {
    const doc = flagsDoc();
    for (const cmd of COMMANDS) {
      expect(doc).toContain(`## valet ${cmd.name}`);
      for (const o of Object.values(cmd.options)) {
        if (o.flag) expect(doc, `--${o.flag}`).toContain(`--${o.flag}`);
        if (o.env) expect(doc, o.env).toContain(`\`${o.env}\``);
        if (o.flag) expect(helpText(cmd)).toContain(`--${o.flag}`);
      }
    }
  });
});
