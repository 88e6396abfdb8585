import { open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { constants as fsConstants, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { NETNS_DIR } from './netns-dir.js';
import { processStartTime } from './process-identity.js';
import { runTool } from './spawn.js';
import { findInPath } from './launch-tools.js';
import type { ContainerLauncher, LaunchedInit } from './launcher.js';

/**
 * Container processes. A container is a host command started inside its sandbox's network
 * namespace, plus its own UTS namespace (hostname) and mount namespace (so /etc/hosts and
 * /etc/resolv.conf can be bind-mounted for it alone).
 *
 * The process is a session leader detached from the daemon with its output going to files,
 * so it outlives a daemon crash (the daemon finds it again by pid + start time). Its
 * first process, berth-init, records the exit code in a file for the same reason.
 */
export interface LaunchSpec {
  /** The namespace under /run/netns to enter; "" keeps the host's (--network host). */
  readonly netns: string;
  /** What starts the process (launcher.ts): it holds berth-init and the containers' mount template. */
  readonly launcher: ContainerLauncher;
  readonly hostname: string;
  readonly hostsFile: string;
  readonly resolvConfFile: string;
  readonly command: readonly string[];
  readonly env: readonly string[];
  readonly stdoutPath: string;
  readonly stderrPath: string;
  readonly exitCodePath: string;
  /** Where to write the mount table berth-init applies. */
  readonly mountTablePath: string;
  /**
   * berth's own paths, hidden in the container: directories under an empty read-only
   * tmpfs, files (an API socket outside them) under /dev/null. The exit code and stdin
   * FIFO paths must be in one directory (the container's, under a hidden one).
   */
  readonly hidden: HiddenPaths;
  /**
   * `-i`: the command reads stdin from this FIFO (made here), which an attach writes to;
   * it sees end of input when that writer closes. Without it, stdin is /dev/null.
   */
  readonly stdinFifoPath?: string;
  /** `--user USER[:GROUP]`: the command runs as that user (setpriv), without supplementary groups; absent: root. */
  readonly user?: string;
  /** `--read-only`: the host's root filesystem is read-only in the container (other mounts keep their mode). */
  readonly readOnly?: boolean;
}

/** What a container must not see of berth: its directories, and files outside them (an API socket). */
export interface HiddenPaths {
  readonly directories: readonly string[];
  readonly files: readonly string[];
}

export interface LaunchedProcess {
  readonly pid: number;
  readonly startTime: string;
  /** `-i`: the writer of the command's stdin (closing it ends the command's input). */
  readonly stdin?: FileHandle;
  /** Resolves with the exit code once the process ends (128+n for a signal). */
  readonly exited: Promise<number>;
  /**
   * Resolves once berth-init has set the sandbox up (hostname, files, sysfs, covers) and
   * runs the command; rejects with a kernel BerthError giving berth-init's reason, once
   * the process is gone.
   */
  readonly setUp: Promise<void>;
}

/** A container's output is root's to read (through the API), like the rest of the data root; berth-init makes its logs with this mode too. */
export const LOG_FILE_MODE = 0o600;

/** The container's directory is root's alone, like the data root (berth-init makes it with this mode too). */
const CONTAINER_DIR_MODE = 0o700;

/** Exit code of berth-init when the sandbox could not be set up (Docker uses 125 for daemon-side failures). */
export const SANDBOX_SETUP_FAILED = 125;

/**
 * Starts a container's process, berth-init (native/berth-init.c: it enters the sandbox,
 * sets the hostname, opens the logs, mounts the table, reports, runs the command and
 * records its exit code), through the launcher. It returns once the process exists (its
 * pid and start time known), before it has set the sandbox up, which the caller need not
 * spend holding anything; `setUp` says how it went.
 */
export async function launchContainer(spec: LaunchSpec): Promise<LaunchedProcess> {
  // Small files, made synchronously: an asynchronous call waits for the thread pool, 1-3 ms
  // while other containers' processes set up on every core.
  writeFileSync(spec.mountTablePath, mountTable(spec));
  // The container's directory (logs, exit code, stdin FIFO) is berth-init's to make, but for
  // the FIFO, made here before it runs.
  if (spec.stdinFifoPath !== undefined) mkdirSync(dirname(spec.stdinFifoPath), { recursive: true, mode: CONTAINER_DIR_MODE });
  const stdin = spec.stdinFifoPath ? await openStdinFifo(spec.stdinFifoPath) : undefined;
  // berth-init opens the sandbox's namespace file before it enters the template, which has
  // no pins under /run/netns, and makes the container's directory and log files itself (new
  // files on the data root's disk cost this thread 0.3-1 ms each).
  const args = [
    spec.netns === '' ? '' : join(NETNS_DIR, spec.netns), spec.hostname, spec.mountTablePath, spec.exitCodePath,
    spec.stdinFifoPath ?? '', spec.stdoutPath, spec.stderrPath, spec.user ?? '', spec.readOnly ? 'ro' : '', '--', ...spec.command,
  ];
  let init: LaunchedInit;
  try {
    init = await spec.launcher.launch(args, envObject(spec.env));
  } catch (err) {
    await stdin?.close();
    throw err;
  }
  const setUp = init.setUp.catch(async (text: string) => {
    const code = await init.exited;
    throw new BerthError('kernel', `cannot start the container: ${text || `its first process exited with code ${code} before the sandbox was ready: ${await lastLine(spec.stderrPath)}`}`);
  });
  // A caller that fails before it awaits set-up must not leave an unhandled rejection behind.
  setUp.catch(() => undefined);
  return { pid: init.pid, startTime: init.startTime, exited: init.exited, setUp, ...(stdin ? { stdin } : {}) };
}

/**
 * The container's mounts in fstab(5) form: its own hosts and resolv.conf, and (with a
 * network namespace of its own or a peer's) a fresh read-only sysfs; host mode keeps the
 * host's /sys, which is the right one there.
 */
export function mountTable(spec: Pick<LaunchSpec, 'hostsFile' | 'resolvConfFile' | 'netns' | 'hidden'>): string {
  const lines = [`${fstabField(spec.hostsFile)} /etc/hosts none bind 0 0`, `${fstabField(spec.resolvConfFile)} /etc/resolv.conf none bind 0 0`];
  // Its own source name, which /proc/mounts shows: not the host's "sysfs".
  if (spec.netns !== '') lines.push('berth-sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0');
  // After the binds, which keep the files they were made from (under the exec root).
  spec.hidden.directories.forEach((dir, i) => lines.push(`berth-hidden-${i} ${fstabField(dir)} tmpfs ro,nosuid,nodev,noexec,size=4k,mode=000 0 0`));
  for (const file of spec.hidden.files) lines.push(`/dev/null ${fstabField(file)} none bind 0 0`);
  return `${lines.join('\n')}\n`;
}

/** fstab fields are separated by blanks: spaces, tabs, newlines and backslashes in a path are octal escapes. */
function fstabField(path: string): string {
  return path.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

async function lastLine(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').at(-1) || '(nothing on stderr)';
}

export function envObject(env: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const entry of env) {
    const eq = entry.indexOf('=');
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** The number of a signal (SIGQUIT 3, SIGSEGV 11, ...): exit codes are 128 + it, as in shells and Docker. */
export function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === null ? 0 : (osConstants.signals[signal] ?? 0);
}

/** Signals the whole process group of a container (its leader is berth-init). */
export function signalContainer(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Reads the exit code berth-init recorded, if it got to record one. */
export async function recordedExitCode(path: string): Promise<number | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Commands found by resolveExecutable, by PATH and name; at most FOUND_EXECUTABLES_KEPT (then it starts again). */
const foundExecutables = new Map<string, string>();
const FOUND_EXECUTABLES_KEPT = 256;

/**
 * Finds `command` the way a shell would, so a typo fails at `run` with a clear message.
 * What was found is remembered: a lookup is an access(2) per PATH directory before it
 * (0.3 ms a create on the VM berth was measured on), and the check is a courtesy, not a
 * guarantee: berth-init looks the command up again when it runs it, and a command removed
 * since then fails the container with 127 and why, as Docker's does. What was not found is
 * looked for again every time.
 */
export function resolveExecutable(command: string, pathEnv = process.env.PATH ?? ''): string {
  const key = `${pathEnv}\0${command}`;
  const remembered = foundExecutables.get(key);
  if (remembered !== undefined) return remembered;
  const found = findInPath(command, pathEnv);
  if (found !== undefined) {
    if (foundExecutables.size >= FOUND_EXECUTABLES_KEPT) foundExecutables.clear();
    foundExecutables.set(key, found);
    return found;
  }
  throw new InvalidArgumentError(
    `cannot run "${command}": executable file not found in $PATH`,
    'berth runs host commands; give a command that exists on this machine',
  );
}

/**
 * For each of `wanted`, the processes whose command line holds it exactly as an argument
 * (a container's berth-init holds its exit-code path, which names the container), in one pass
 * over /proc. Finds containers whose start was cut short by a daemon crash: launched, but
 * never recorded as running.
 */
export async function processesWithArguments(wanted: readonly string[]): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>(wanted.map((a) => [a, []]));
  if (wanted.length === 0) return found;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    for (const arg of cmdline.split('\0')) found.get(arg)?.push(Number(entry));
  }
  return found;
}

/** SIGKILLs each process's group (a container's berth-init leads one) and waits until each is gone. */
export async function killProcessGroups(pids: readonly number[], timeoutMs = 5_000): Promise<void> {
  for (const pid of pids) {
    const startTime = await processStartTime(pid);
    if (startTime === undefined) continue;
    signalContainer(pid, 'SIGKILL');
    try {
      process.kill(pid, 'SIGKILL'); // not a group leader after all
    } catch {
      // gone with its group
    }
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (await processStartTime(pid)) === startTime) await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `docker top`: the processes of a container's session (its berth-init leads one: it was
 * started with setsid), as `ps -f` shows them, berth-init left out. Titles and one row of
 * columns per process; the last column (the command) keeps its spaces.
 */
export async function sessionProcesses(sid: number): Promise<{ titles: string[]; processes: string[][] }> {
  const result = await runTool('ps', ['-s', String(sid), '-o', 'uid,pid,ppid,c,stime,tty,time,cmd']);
  const [header = '', ...rows] = result.stdout.split('\n').filter((l) => l.trim() !== '');
  const titles = header.trim().split(/\s+/);
  const processes = rows.map((row) => {
    const fields = row.trim().split(/\s+/);
    return [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
  });
  // The session leader is berth-init (it records the exit code), not the container's command.
  const pidColumn = titles.indexOf('PID');
  return { titles, processes: processes.filter((p) => p[pidColumn] !== String(sid)) };
}

/**
 * The container's stdin: a FIFO at `path` (kept if it is one already: a restarted
 * container reuses it), opened read-write by the daemon before the command starts. A
 * read-write open never waits for the other side, and it is the writer the command's
 * `exec 0<FIFO` waits for; writes into it (an attach's stdin) block as a pipe's should.
 * Closing it ends the command's input (Docker's StdinOnce), as does the daemon's death.
 */
async function openStdinFifo(path: string): Promise<FileHandle> {
  const existing = await stat(path).catch(() => undefined);
  if (!existing?.isFIFO()) {
    const made = await runTool('mkfifo', ['-m', '600', path]);
    if (made.code !== 0) throw new BerthError('kernel', `cannot make the stdin FIFO ${path}: ${made.stderr.trim()}`);
  }
  return open(path, fsConstants.O_RDWR);
}
