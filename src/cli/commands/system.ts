import { boolFlag, HelpRequested, parseArgs, usageError, type CommandInfo } from '../../common/args.js';
import type { ApiClient } from '../client.js';

const RECONCILE: CommandInfo = {
  name: 'system reconcile',
  usage: `Usage: berth system reconcile [--dry-run]

Compare the kernel with berth's records now and repair what drifted: networks' links and
addresses, running containers' veths and namespace pins, ip_forward, berth's firewall rules
(the daemon also does this by itself, every --repair-interval). Prints what was found and
the commands run; exits 1 if a repair failed.

Options:
      --dry-run   Print what drifted and the commands that would repair it; change nothing`,
};

const SYSTEM_USAGE = `Usage: berth system COMMAND

Commands:
  reconcile   Repair drift between the kernel and berth's records now (--dry-run: show it)`;

const SYSTEM: CommandInfo = { name: 'system', usage: SYSTEM_USAGE };

interface ReconcileAnswer {
  readonly Steps: readonly { readonly What: string; readonly Script: string }[];
  readonly Failures: readonly string[];
  readonly Applied: boolean;
}

export async function systemCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === 'help') throw new HelpRequested(SYSTEM_USAGE);
  if (sub !== 'reconcile') throw usageError(SYSTEM, sub === undefined ? '"berth system" requires a command' : `unknown system command "${sub}" (available: reconcile)`);
  const parsed = parseArgs(RECONCILE, rest, { 'dry-run': { value: false } });
  if (parsed.positionals.length > 0) throw usageError(RECONCILE, '"berth system reconcile" accepts no arguments');
  const dryRun = boolFlag(parsed, 'dry-run');
  const answer = (await client.call('POST', `/berth/reconcile${dryRun ? '?dry-run=1' : ''}`)) as ReconcileAnswer;
  if (answer.Steps.length === 0) {
    console.log('nothing drifted: the kernel matches the records');
    return 0;
  }
  for (const step of answer.Steps) {
    console.log(`# ${step.What}${answer.Applied ? ' (repaired)' : ' (would be repaired)'}`);
    process.stdout.write(step.Script.endsWith('\n') ? step.Script : `${step.Script}\n`);
  }
  for (const failure of answer.Failures) console.error(`repair failed: ${failure}`);
  return answer.Failures.length > 0 ? 1 : 0;
}
