import { spawn } from 'node:child_process';
import { access, constants, open, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import { NETNS_DIR } from './read.js';

/**
 * Container processes. A container is a host command started inside its sandbox's network
 * namespace, plus its own UTS namespace (hostname) and mount namespace (so /etc/hosts and
 * /etc/resolv.conf can be bind-mounted for it alone).
 *
 * The process is a session leader detached from the daemon with its output going to files,
 * so it outlives a daemon crash (the daemon finds it again by pid + start time). Its
 * wrapper shell records the exit code in a file for the same reason.
 */
export interface LaunchSpec {
  /** The namespace under /run/netns to enter; "" keeps the host's (--network host). */
  readonly netns: string;
  readonly hostname: string;
  readonly hostsFile: string;
  readonly resolvConfFile: string;
  readonly command: readonly string[];
  readonly env: readonly string[];
  readonly stdoutPath: string;
  readonly stderrPath: string;
  readonly exitCodePath: string;
}

export interface LaunchedProcess {
  readonly pid: number;
  readonly startTime: string;
  /** Resolves with the exit code once the process ends (128+n for a signal). */
  readonly exited: Promise<number>;
}

/** Exit code of the wrapper when the sandbox could not be entered (Docker uses 125 for daemon-side failures). */
export const SANDBOX_SETUP_FAILED = 125;

// $1 hostname, $2 hosts file, $3 resolv.conf, $4 exit-code file, then the command.
const WRAPPER = [
  'hostname "$1" && mount --bind "$2" /etc/hosts && mount --bind "$3" /etc/resolv.conf || exit 125',
  'exitfile=$4; shift 4',
  '"$@"',
  'code=$?',
  'echo "$code" > "$exitfile"',
  'exit "$code"',
].join('\n');

export async function launchContainer(spec: LaunchSpec): Promise<LaunchedProcess> {
  const stdout = await open(spec.stdoutPath, 'a');
  const stderr = await open(spec.stderrPath, 'a');
  try {
    const enterNetns = spec.netns === '' ? [] : ['nsenter', `--net=${join(NETNS_DIR, spec.netns)}`];
    const [tool, ...args] = [
      ...enterNetns,
      'unshare', '--uts', '--mount', '--propagation', 'private', '--',
      '/bin/sh', '-c', WRAPPER, 'berth-init',
      spec.hostname, spec.hostsFile, spec.resolvConfFile, spec.exitCodePath,
      ...spec.command,
    ];
    const child = spawn(tool!, args, { detached: true, stdio: ['ignore', stdout.fd, stderr.fd], env: envObject(spec.env) });
    const exited = new Promise<number>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
      child.on('error', () => resolve(SANDBOX_SETUP_FAILED));
    });
    // The daemon's lifetime is its API server's: a running container must not keep a
    // stopping daemon alive (its 'exit' event still arrives while the daemon runs).
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${tool!} could not be started (is util-linux installed?)`);
    return { pid, startTime: (await processStartTime(pid)) ?? '', exited };
  } finally {
    await stdout.close();
    await stderr.close();
  }
}

function envObject(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const entry of env) {
    const eq = entry.indexOf('=');
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return (signal && numbers[signal]) ?? 0;
}

/**
 * The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or
 * undefined if it is gone or a zombie. Together with the pid it names one process for
 * good: pids are reused, start times are not.
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

export async function isSameProcessAlive(pid: number, startTime: string): Promise<boolean> {
  const now = await processStartTime(pid);
  return now !== undefined && now === startTime;
}

/** Signals the whole process group of a container (its leader is the wrapper shell). */
export function signalContainer(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Reads the exit code the wrapper recorded, if it got to record one. */
export async function recordedExitCode(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Finds `command` the way a shell would, so a typo fails at `run` with a clear message. */
export async function resolveExecutable(command: string, pathEnv = process.env.PATH ?? ''): Promise<string> {
  const candidates = command.includes('/') ? [command] : pathEnv.split(delimiter).filter(Boolean).map((d) => join(d, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  throw new InvalidArgumentError(
    `cannot run "${command}": executable file not found in $PATH`,
    'berth runs host commands; give a command that exists on this machine',
  );
}
