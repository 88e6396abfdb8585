import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { BerthError } from '../../common/errors.js';
import { flagList, parseArgs, usageError, type CommandInfo } from '../../common/args.js';
import type { ApiClient } from '../client.js';

/**
 * `berth exec NAME CMD...` joins the container's namespaces (network, UTS, mount) with
 * nsenter and runs CMD with this terminal's stdio. Decision: the CLI enters the namespaces
 * itself rather than relaying streams through the daemon: it is what a person would type
 * (`nsenter -t PID -n -u -m`), keeps stdin/TTY behaviour exact, and needs root either way.
 */
const EXEC: CommandInfo = {
  name: 'exec',
  usage: `Usage: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]

Run a command inside a running container (its network, UTS and mount namespaces), with
this terminal's stdio. Exits with the command's code (128+N when signal N ended it).

Options:
  -e, --env KEY=VALUE   Set an environment variable (repeatable)`,
};

export async function execCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(EXEC, argv, { env: { short: 'e', value: true, repeat: true } }, { stopAtPositional: true });
  const [name, ...command] = parsed.rest ? [...parsed.positionals, ...parsed.rest] : parsed.positionals;
  if (name === undefined || command.length === 0) throw usageError(EXEC, '"berth exec" requires a container and a command');
  const info = (await client.call('GET', `/containers/${encodeURIComponent(name)}/json`)) as {
    State: { Running: boolean; Pid: number };
    Config: { Env: string[] };
  };
  if (!info.State.Running) throw new BerthError('conflict', `container ${name} is not running`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', TERM: process.env.TERM ?? 'xterm' };
  for (const entry of [...info.Config.Env, ...flagList(parsed, 'env')]) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const child = spawn('nsenter', ['-t', String(info.State.Pid), '-n', '-u', '-m', '--', ...command], { stdio: 'inherit', env });
  return new Promise((resolve, reject) => {
    child.on('error', (err) => reject(new BerthError('missing_feature', `cannot run nsenter: ${err.message}`, 'apt-get install util-linux')));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))));
  });
}
