import { boolFlag, flag, flagList, parseArgs, usageError, type CommandInfo } from '../../common/args.js';
import type { ApiClient } from '../client.js';
import { demultiplex } from '../stdcopy.js';

/**
 * `berth exec [-i] [-t] NAME CMD...` through the daemon's exec endpoints, as `docker exec`
 * does: create the exec, start it on a hijacked connection (stdin up, output down), then
 * ask for its exit code. With -t the daemon runs it on a pseudo-terminal and this terminal
 * goes raw, so keys (Ctrl-C included) reach the command; its size follows this window.
 */
const EXEC: CommandInfo = {
  name: 'exec',
  usage: `Usage: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]

Run a command inside a running container (its network, UTS and mount namespaces).
Exits with the command's code (128+N when signal N ended it).

Options:
  -e, --env KEY=VALUE   Set an environment variable (repeatable)
  -i, --interactive     Keep stdin open and send it to the command
  -t, --tty             Run it on a pseudo-terminal
  -w, --workdir DIR     Working directory inside the container`,
};

export async function execCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(
    EXEC,
    argv,
    { env: { short: 'e', value: true, repeat: true }, interactive: { short: 'i', value: false }, tty: { short: 't', value: false }, workdir: { short: 'w', value: true } },
    { stopAtPositional: true },
  );
  const [name, ...command] = parsed.rest ? [...parsed.positionals, ...parsed.rest] : parsed.positionals;
  if (name === undefined || command.length === 0) throw usageError(EXEC, '"berth exec" requires a container and a command');
  const interactive = boolFlag(parsed, 'interactive');
  const tty = boolFlag(parsed, 'tty');
  const workdir = flag(parsed, 'workdir');
  const created = (await client.call('POST', `/containers/${encodeURIComponent(name)}/exec`, {
    AttachStdin: interactive,
    AttachStdout: true,
    AttachStderr: true,
    Tty: tty,
    Cmd: command,
    Env: flagList(parsed, 'env'),
    ...(workdir ? { WorkingDir: workdir } : {}),
  })) as { Id: string };
  const socket = await client.hijack(`/exec/${created.Id}/start`, { Detach: false, Tty: tty });
  const terminal = tty && process.stdin.isTTY && process.stdout.isTTY;
  const resize = () => void client.call('POST', `/exec/${created.Id}/resize?h=${process.stdout.rows}&w=${process.stdout.columns}`).catch(() => undefined);
  if (terminal) {
    process.stdin.setRawMode(true);
    resize();
    process.stdout.on('resize', resize);
  }
  try {
    if (interactive) {
      process.stdin.on('data', (d: Buffer) => socket.write(d));
      process.stdin.once('end', () => socket.end()); // half-close: the command sees end of input
    } else {
      socket.end();
    }
    if (tty) {
      socket.pipe(process.stdout, { end: false });
      await new Promise((resolve) => socket.once('close', resolve));
    } else {
      await demultiplex(socket, process.stdout, process.stderr);
    }
  } finally {
    if (terminal) process.stdin.setRawMode(false);
    process.stdout.off('resize', resize);
    process.stdin.pause();
  }
  const inspected = (await client.call('GET', `/exec/${created.Id}/json`)) as { ExitCode: number | null };
  return inspected.ExitCode ?? 0;
}
