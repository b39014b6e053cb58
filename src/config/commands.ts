// Every command's declarations, in the order docs/flags.md lists them.
import { DOCTOR_COMMAND } from './doctor.ts';
import { flagsMarkdown } from './help.ts';
import { OPERATOR_COMMAND } from './operator.ts';
import { POLICY_COMMAND } from './policy.ts';
import { SIDECAR_COMMAND } from './sidecar.ts';

export const COMMANDS = [OPERATOR_COMMAND, SIDECAR_COMMAND, POLICY_COMMAND, DOCTOR_COMMAND] as const;

/** The script that writes docs/flags.md, as the docs name it. */
export const FLAGS_DOC_SCRIPT = 'npm run flags-doc';

/** docs/flags.md as the declarations say it should be. */
export function flagsDoc(): string {
  return flagsMarkdown(COMMANDS, `\`${FLAGS_DOC_SCRIPT}\` (scripts/flags-doc.ts)`);
}
