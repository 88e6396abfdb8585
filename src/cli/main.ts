import { asBerthError } from '../common/errors.js';
import { HelpRequested, parseArgs, flag, UsageError } from '../common/args.js';
import type { ApiClient } from './client.js';
import type { Handover } from './handover.js';

const USAGE = `Usage: berth [-H unix:///path] COMMAND

A container networking engine: namespaces, veth pairs, bridges, IPAM and nftables, for real.

Commands:
  daemon      Run the daemon (root)
  run         Create and start a container (berth run --help)
  create      Create a container without starting it (same flags as run)
  ps          List containers (-a: all, -q: ids only)
  inspect     Show containers or networks as Docker-shaped JSON (-f '{{.Field}}')
  exec        Run a command inside a running container
  logs        Show a container's output (-f: follow)
  stop        Stop containers (SIGTERM, then SIGKILL after -t seconds)
  start       Start created containers
  wait        Wait for containers to exit, print their exit codes
  rm          Remove containers (-f: stop running ones first)
  port        List a container's published ports
  network     create | ls | inspect | rm | prune | connect | disconnect (berth network --help)
  system      reconcile: repair drift between the kernel and the records now (--dry-run)
  explain     The exact commands an operation runs, each with why (berth explain --help)
  trace       Where a packet from SRC to DST goes, and which rule decides (berth trace --help)

The daemon's socket: -H unix:///path, or BERTH_HOST (default unix:///run/berth/berth.sock).`;

type Command = (client: ApiClient, argv: readonly string[], handover: Handover) => Promise<number>;

/**
 * Each command's module is loaded when that command runs: a CLI's start-up is most of the
 * time a person waits for `berth ps`, so `berth --version` loads nothing and `berth ps`
 * only the list code (measured in bench/cli-startup.ts).
 */
const containers = () => import('./commands/containers.js');
const runs = () => import('./commands/run.js');

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await runs()).runCommand,
  create: async () => (await runs()).createCommand,
  ps: async () => (await containers()).psCommand,
  inspect: async () => (await containers()).inspectCommand,
  logs: async () => (await containers()).logsCommand,
  stop: async () => (await containers()).stopCommand,
  start: async () => (await containers()).startCommand,
  wait: async () => (await containers()).waitCommand,
  rm: async () => (await containers()).rmCommand,
  port: async () => (await containers()).portCommand,
  exec: async () => (await import('./commands/exec.js')).execCommand,
  network: async () => (await import('./commands/network.js')).networkCommand,
  system: async () => (await import('./commands/system.js')).systemCommand,
  explain: async () => (await import('./commands/explain.js')).explainCommand,
  trace: async () => (await import('./commands/trace.js')).traceCommand,
};

export async function main(argv: readonly string[], handover: Handover): Promise<number> {
  const globals = parseArgs({ name: '', usage: USAGE }, argv, { host: { short: 'H', value: true }, help: { value: false }, version: { value: false } }, { stopAtPositional: true });
  const [command, ...rest] = globals.positionals;
  const host = flag(globals, 'host');
  if (flag(globals, 'version')) {
    console.log('berth 0.1.0');
    return 0;
  }
  if (command === undefined || command === 'help' || flag(globals, 'help')) {
    console.log(USAGE);
    return command === undefined && !flag(globals, 'help') ? 1 : 0;
  }
  // The daemon's side is loaded on demand: it pulls in native bindings (koffi, netlink) the client never needs.
  if (command === 'daemon') return handover.daemon(rest, host);
  const load = COMMANDS[command];
  if (!load) throw new UsageError(`unknown command "${command}"`, "see 'berth --help'");
  // node:http alone costs ~7 ms to load: only commands that talk to the daemon pay it.
  const { ApiClient: Client, socketPathFrom } = await import('./client.js');
  return (await load())(new Client(socketPathFrom(host)), rest, handover);
}

/** Runs a command line to its exit code: errors are printed as Error/Hint lines; usage errors exit 2. */
export function runCli(argv: readonly string[], handover: Handover): void {
  main(argv, handover).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof HelpRequested) {
        console.log(err.usage);
        process.exitCode = 0;
        return;
      }
      const e = asBerthError(err);
      console.error(`Error: ${e.message}`);
      if (e.hint) console.error(`Hint: ${e.hint}`);
      if (e.code === 'internal' && process.env.BERTH_DEBUG) console.error(err);
      process.exitCode = err instanceof UsageError ? 2 : 1;
    },
  );
}
