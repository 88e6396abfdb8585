import { closeSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { Socket } from 'node:net';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { closeOnExecPipe, reap, shellStatus, spawnInNewSession } from './posix-spawn.js';
import { processStartTime } from './process-identity.js';

/**
 * Containers' first processes, forked by one resident process (native/launcher.c, started
 * at the first launch) instead of each being exec'd by the daemon: the daemon's thread
 * writes a request and goes on, and reads the child's pid and start time when they come.
 * Spawning berth-init held the daemon's thread 0.7-1.4 ms a container (posix_spawn returns
 * after the child's exec) and reading its start time right after 0.2-0.4 ms more, and each
 * container's report pipe was a socket of the daemon's own (docs/decisions.md).
 *
 * What the launcher answers and what its children report come on one pipe, as lines
 * (launcher.c and berth-init.c give their forms). A child's report may come before the
 * launcher's answer that names it; the answers come in the order of the requests.
 *
 * The launcher ends when the daemon closes its requests, or dies: its children run on. If
 * it ends while the daemon lives (killed), the pipe closes once no child is setting up; the
 * starts it had not answered fail, the containers it started are watched through /proc
 * (their exit statuses are lost with it: berth-init's exit file has them), and the next
 * launch starts another.
 */
export class ContainerLauncher {
  private running: LauncherProcess | undefined;
  private closed = false;

  /** `init`: berth-init's path; `mountTemplate`: the descriptor of the containers' mount template (mount-template.ts), which the launcher gets a copy of. */
  constructor(
    private readonly init: string,
    private readonly mountTemplate: number,
  ) {}

  /** Starts a container's first process with berth-init's arguments (berth-init.c) and environment; resolves once it exists. */
  launch(args: readonly string[], env: Readonly<Record<string, string>>): Promise<LaunchedInit> {
    if (this.closed) return Promise.reject(new BerthError('internal', 'the container launcher is closed'));
    const request = encodeRequest(args, Object.entries(env).map(([k, v]) => `${k}=${v}`));
    const launcher = this.running ?? this.start();
    return launcher.send(request);
  }

  /** Ends the launcher once it has served the requests already sent (its children run on); later launches are refused. */
  close(): void {
    this.closed = true;
    this.running?.end();
    this.running = undefined;
  }

  private start(): LauncherProcess {
    const launcher = new LauncherProcess(this.init, this.mountTemplate, () => {
      if (this.running === launcher) this.running = undefined;
      if (!this.closed) console.error(`berth: the container launcher (pid ${launcher.pid}) ended; the next start makes another`);
    });
    this.running = launcher;
    return launcher;
  }
}

/** A container's first process as the launcher started it. */
export interface LaunchedInit {
  readonly pid: number;
  /** Its start time (process-identity.ts). */
  readonly startTime: string;
  /** Resolves once it reported its sandbox set up; rejects with the reason it reported ('' for none) once it has ended without. */
  readonly setUp: Promise<void>;
  /** Its exit status as a shell gives it (128 + the signal), once it has ended. */
  readonly exited: Promise<number>;
}

/** Room for the children's command lines (launcher.c): berth-init's arguments longer than this are cut at an argument's end. */
const TITLE_ROOM = 4096;

/** How often a child whose launcher is gone is looked for in /proc, and the status it is given when gone (128 + SIGKILL). */
const ORPHAN_POLL_MS = 250;
const STATUS_UNKNOWN = 137;

/** One launcher process and what it owes the daemon. */
class LauncherProcess {
  readonly pid: number;
  private readonly requests: number;
  private readonly answers: Socket;
  /** The launches waiting for their answer, in the order asked. */
  private readonly waiting: { resolve: (init: LaunchedInit) => void; reject: (err: Error) => void }[] = [];
  private readonly children = new Map<number, Child>();
  /** The children that have not reported their set-up yet. */
  private readonly settingUp = new Set<number>();
  private ended = false;

  constructor(init: string, mountTemplate: number, onEnd: () => void) {
    const [requestRead, requestWrite] = closeOnExecPipe();
    const [answerRead, answerWrite] = closeOnExecPipe();
    try {
      this.pid = spawnInNewSession({ file: init, args: ['--launcher', ' '.repeat(TITLE_ROOM)], env: {}, descriptors: [requestRead, answerWrite, 2, 'null', mountTemplate] });
    } catch (err) {
      closeSync(requestWrite);
      closeSync(answerRead);
      throw new BerthError('kernel', `${init} could not be started: ${(err as Error).message}`);
    } finally {
      closeSync(requestRead);
      closeSync(answerWrite);
    }
    this.requests = requestWrite;
    this.answers = new Socket({ fd: answerRead, readable: true, writable: false });
    let partial = '';
    this.answers.setEncoding('utf8');
    this.answers.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) this.receive(line);
    });
    this.answers.on('error', () => this.answers.destroy());
    this.answers.once('close', () => {
      this.lost();
      void reap(this.pid);
      onEnd();
    });
    this.updateRef();
  }

  send(request: Buffer): Promise<LaunchedInit> {
    if (this.ended) return Promise.reject(new BerthError('kernel', 'the container launcher has ended'));
    try {
      for (let written = 0; written < request.length; ) written += writeSync(this.requests, request, written);
    } catch (err) {
      return Promise.reject(new BerthError('kernel', `cannot ask the container launcher (pid ${this.pid}) for a container: ${(err as Error).message}`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.updateRef();
    });
  }

  /** No more requests: the launcher ends (launcher.c). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    closeSync(this.requests);
  }

  private receive(line: string): void {
    const [kind = '', first = '', ...rest] = line.split(' ');
    const pid = Number(first);
    switch (kind) {
      case 'started': {
        const child = this.childOf(pid);
        child.startTime = rest[0] ?? '';
        this.waiting.shift()?.resolve({ pid, startTime: child.startTime, setUp: child.setUp, exited: child.exited });
        break;
      }
      case 'unstarted':
        this.waiting.shift()?.reject(new BerthError('kernel', `the container launcher could not start the container's process: ${[first, ...rest].join(' ')}`));
        break;
      case 'ready':
        this.knownChild(pid)?.ready();
        this.settingUp.delete(pid);
        break;
      case 'failed':
        this.knownChild(pid)?.failed(rest.join(' '));
        break;
      case 'exited': {
        const child = this.knownChild(pid);
        this.children.delete(pid);
        this.settingUp.delete(pid);
        child?.end(shellStatus(Number(rest[0])));
        break;
      }
      default:
        console.error(`berth: the container launcher said what berth does not know: ${JSON.stringify(line)}`);
    }
    this.updateRef();
  }

  private childOf(pid: number): Child {
    let child = this.children.get(pid);
    if (!child) {
      this.children.set(pid, (child = new Child()));
      this.settingUp.add(pid);
    }
    return child;
  }

  /**
   * The child a report is about; made when a launch is waiting, as its report can come
   * before the launcher's answer. Otherwise the report is about a child already gone (its
   * exit came first: a report held back by something between), and is dropped.
   */
  private knownChild(pid: number): Child | undefined {
    return this.children.get(pid) ?? (this.waiting.length > 0 ? this.childOf(pid) : undefined);
  }

  /** The launcher has ended, and no child holds the pipe: what it owed fails or is watched through /proc. */
  private lost(): void {
    this.end();
    for (const waiter of this.waiting.splice(0)) waiter.reject(new BerthError('kernel', `the container launcher (pid ${this.pid}) ended before it answered`));
    for (const [pid, child] of this.children) {
      child.failed('its launcher ended before it reported');
      watchOrphan(pid, child);
    }
    this.children.clear();
    this.settingUp.clear();
  }

  /** The pipe keeps the daemon alive while something waits on it (a launch, or a set-up); a running container does not. */
  private updateRef(): void {
    if (this.waiting.length > 0 || this.settingUp.size > 0) this.answers.ref();
    else this.answers.unref();
  }
}

/** A child's set-up report and end, as they come. */
class Child {
  startTime = '';
  private failure = '';
  private settle!: { resolve: () => void; reject: (why: string) => void };
  private finish!: (status: number) => void;
  readonly setUp = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
  readonly exited = new Promise<number>((resolve) => (this.finish = resolve));

  constructor() {
    // A launch whose caller fails before it awaits the set-up must leave no unhandled rejection.
    this.setUp.catch(() => undefined);
  }

  ready(): void {
    this.settle.resolve();
  }

  failed(why: string): void {
    this.failure ||= why;
  }

  end(status: number): void {
    this.settle.reject(this.failure);
    this.finish(status);
  }
}

/**
 * The children of launchers that are gone, each ended once /proc no longer has it: one
 * timer for all of them (a launcher killed under 1,000 containers leaves 1,000), as the
 * engine polls the containers it adopted.
 */
const orphans = new Map<number, Child>();
let orphanPoll: NodeJS.Timeout | undefined;

function watchOrphan(pid: number, child: Child): void {
  orphans.set(pid, child);
  orphanPoll ??= setInterval(() => void pollOrphans(), ORPHAN_POLL_MS).unref();
}

async function pollOrphans(): Promise<void> {
  for (const [pid, child] of orphans) {
    if (child.startTime !== '' && (await processStartTime(pid)) === child.startTime) continue;
    orphans.delete(pid);
    child.end(STATUS_UNKNOWN);
  }
  if (orphans.size === 0) {
    clearInterval(orphanPoll);
    orphanPoll = undefined;
  }
}

/** launcher.c's request: a 32-bit length, then the counts and the strings, each ending in NUL. */
function encodeRequest(args: readonly string[], env: readonly string[]): Buffer {
  const strings = [String(args.length), String(env.length), ...args, ...env];
  if (strings.some((s) => s.includes('\0'))) throw new InvalidArgumentError('an argument or environment entry of the container holds a NUL byte, which no process can be given', 'remove it from the command or the environment');
  const payload = Buffer.from(strings.map((s) => `${s}\0`).join(''), 'utf8');
  const header = Buffer.alloc(4);
  if (endianness() === 'LE') header.writeUInt32LE(payload.length);
  else header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}
