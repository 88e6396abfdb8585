import { spawn, type ChildProcess } from 'node:child_process';
import { randomHex } from '../common/random-hex.js';
import type { KernelOp } from './ops.js';

/**
 * Deletes host links in the background. Deleting a link makes the caller wait for the
 * kernel's RCU grace periods (15-40 ms per veth or bridge on this VM, against 0.2 ms to take
 * it down), so a plan takes the link down and renames it at once (it stops forwarding, and
 * its name is free) and hands it here: the caller does not wait, and nothing on the link
 * works meanwhile.
 *
 * A deletion also holds the kernel's RTNL lock while it unregisters the link (waiting there
 * for grace periods too), and every other rtnetlink request waits for that lock: run beside
 * berth's next plans, deletions made them 3-5x slower at p95 (network create and connect
 * 20-30 ms instead of 5-6 ms in bench/networks.ts). So links nothing uses any more (a
 * removed network's bridge, a disconnected container's veth: its container end is down,
 * renamed and without its address) wait here until berth's plans have paused for QUIET_MS
 * (each plan applied postpones them), and then go in one batch; under continuous work they
 * go anyway once the oldest has waited MAX_WAIT_MS, or MAX_WAITING are waiting. What must go
 * at once (an overlay endpoint's veth) goes at once.
 *
 * One `ip -force -batch -` process, started at the first deletion and kept, runs them in
 * order: a deletion blocks only that process. The links of one flush go together: each is
 * put in link group REAPED_GROUP, then the group is deleted in one request, which the
 * kernel tears down as one batch with one set of grace periods (50 veths: 45 ms, against
 * 851 ms one by one on this VM): the RTNL lock is held once, not once per link. After each
 * batch the process lists lo, whose line on stdout confirms the batch before it is done.
 * Links waiting or being deleted are `pending`: reconcile and drift repair treat them as
 * gone, and a daemon that dies before they are gone finds them again at start (they are
 * berth's, and no record owns them) and deletes them then.
 */
class Reaper {
  private process: ChildProcess | undefined;
  /** Handed over, not yet given to the process. */
  private readonly waiting: string[] = [];
  private waitingSince = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  /** Given to the process in batches, not yet confirmed. */
  private readonly queue: string[][] = [];
  private readonly waiters: (() => void)[] = [];
  private stdout = '';
  private restarts = 0;

  reap(dev: string, when: 'now' | 'when-idle'): void {
    if (this.waiting.length === 0) this.waitingSince = Date.now();
    this.waiting.push(dev);
    if (when === 'now' || this.waiting.length >= MAX_WAITING) this.flush();
    else this.postpone();
  }

  /** berth is changing the kernel: what waits goes once it pauses (or has waited long enough). */
  postpone(): void {
    if (this.waiting.length === 0) return;
    clearTimeout(this.flushTimer);
    const overdueInMs = this.waitingSince + MAX_WAIT_MS - Date.now();
    if (overdueInMs <= 0) return this.flush();
    this.flushTimer = setTimeout(() => this.flush(), Math.min(QUIET_MS, overdueInMs));
    // A daemon with nothing else to do stops; its stop flushes what waits.
    this.flushTimer.unref();
  }

  pending(): ReadonlySet<string> {
    return new Set([...this.waiting, ...this.queue.flat()]);
  }

  /** Resolves when every link handed over so far is gone (or its deletion failed: -force goes on). */
  settled(): Promise<void> {
    this.flush();
    if (this.queue.length === 0) return Promise.resolve();
    // Someone waits on the process now: its pipe must keep the event loop alive until it answers.
    this.holdOpen(true);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Deletes what waits (at most `ms` for it), then ends the process. */
  async stop(ms = 2000): Promise<void> {
    await Promise.race([this.settled(), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
    const ip = this.process;
    this.process = undefined;
    ip?.stdin?.end();
  }

  /** Gives every waiting link to the process. */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const devs = this.waiting.splice(0);
    if (devs.length === 0) return;
    this.queue.push(devs);
    const grouped = devs.map((dev) => `link set dev ${dev} group ${REAPED_GROUP}\n`).join('');
    this.ensure().stdin?.write(`${grouped}link del group ${REAPED_GROUP}\nlink show dev lo\n`);
  }

  private ensure(): ChildProcess {
    if (this.process && this.process.exitCode === null) return this.process;
    this.stdout = '';
    const ip = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'ignore'] });
    ip.stdout.setEncoding('utf8').on('data', (chunk: string) => this.confirmed(chunk));
    ip.on('error', () => this.lost(ip));
    ip.on('exit', () => this.lost(ip));
    ip.stdin.on('error', () => undefined);
    this.process = ip;
    this.holdOpen(this.waiters.length > 0);
    return ip;
  }

  /** Whether the process and its stdout keep the event loop alive: only while someone awaits `settled`. */
  private holdOpen(hold: boolean): void {
    const ip = this.process;
    if (!ip) return;
    const stdout = ip.stdout as unknown as { ref?: () => void; unref?: () => void } | null;
    if (hold) {
      ip.ref();
      stdout?.ref?.();
    } else {
      ip.unref();
      stdout?.unref?.();
    }
  }

  /**
   * The process ended while it was in use (killed by someone): a new one takes what it had
   * not confirmed (deleting a link already gone fails harmlessly under -force), a few times;
   * after that the links wait, renamed, for the next daemon's start.
   */
  private lost(ip: ChildProcess): void {
    if (this.process !== ip) return; // stopped, or already handled
    this.process = undefined;
    const left = this.queue.splice(0).flat();
    if (this.restarts++ < MAX_RESTARTS) {
      this.waiting.unshift(...left);
      this.flush();
    } else this.release();
  }

  /** One "1: lo: ..." line per batch done. */
  private confirmed(chunk: string): void {
    this.stdout += chunk;
    const lines = this.stdout.split('\n');
    this.stdout = lines.pop() ?? '';
    for (const line of lines) if (/^\d+: lo:/.test(line)) this.queue.shift();
    if (this.queue.length === 0) this.release();
  }

  private release(): void {
    this.holdOpen(false);
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

/** How long berth's plans must pause before waiting links are deleted. */
const QUIET_MS = 100;
/** The longest a link waits while plans keep coming. */
const MAX_WAIT_MS = 1000;
/** More waiting than this go at once (a burst of removals). */
const MAX_WAITING = 64;
const MAX_RESTARTS = 3;
/**
 * The link group berth's leaving links are put in to be deleted together (`ip link del group
 * N` deletes every link of the group in the namespace). Only berth's links on their way out
 * (down, renamed "gone..." or never used) are ever in it; a number no one picks by chance.
 */
export const REAPED_GROUP = 0x62657274; // "bert"
const reaper = new Reaper();

/** A container's end of a pair, renamed while its host end is reaped: "gone" and 7 hex digits. */
export const LEAVING_PREFIX = 'gone';
const LEAVING = new RegExp(`^${LEAVING_PREFIX}[0-9a-f]{7}$`);

/**
 * A name for a host link on its way out: taken down and renamed before it is handed over,
 * its own name is free at once (a network re-created right away with the same bridge name).
 */
export function leavingHostName(): string {
  return `${LEAVING_PREFIX}${randomHex(7)}`;
}

/** Whether a link is one on its way out. */
export function isLeaving(name: string): boolean {
  return LEAVING.test(name);
}

/**
 * Host links the kernel deletes by itself, a while after the namespace holding their veth
 * peers was deleted (tens of ms; seconds when hundreds go at once): plans and drift repair
 * treat them as gone, as they treat links being reaped, so a repair does not delete what is
 * already going (a synchronous deletion, 15-40 ms each, racing the kernel's). Each is
 * forgotten once seen gone, or after DEPARTING_MS: a namespace some process still holds
 * keeps its links, and drift repair takes them then.
 */
const departing = new Map<string, number>();
const DEPARTING_MS = 60_000;

/** Notes the host links of the namespaces `plan` deleted (call once it is applied). */
export function noteDepartures(plan: readonly KernelOp[]): void {
  const now = Date.now();
  for (const op of plan) if (op.kind === 'netns-del') for (const name of op.takes ?? []) departing.set(name, now);
}

/** The links among `present` that are still departing with their namespace; forgets the rest. */
export function departingLinks(present: ReadonlySet<string>): ReadonlySet<string> {
  const now = Date.now();
  for (const [name, since] of departing) if (!present.has(name) || now - since > DEPARTING_MS) departing.delete(name);
  return new Set(departing.keys());
}

/** Deletes the host link `dev` in the background (it should be down already): at once, or once berth's plans pause. */
export function reapLink(dev: string, when: 'now' | 'when-idle'): void {
  reaper.reap(dev, when);
}

/** A plan is about to change the kernel: links waiting for deletion wait until berth pauses. */
export function postponeReaps(): void {
  reaper.postpone();
}

/** Deletes the host links among `names` that are on their way out but not in this daemon's queue (an earlier daemon's). */
export function reapLeftovers(names: Iterable<string>): void {
  const pending = reaper.pending();
  for (const name of names) if (isLeaving(name) && !pending.has(name)) reaper.reap(name, 'now');
}

/** Host links handed to the reaper and not yet gone. */
export function pendingReaps(): ReadonlySet<string> {
  return reaper.pending();
}

/** Resolves when every link handed to the reaper so far is gone. */
export function reapsSettled(): Promise<void> {
  return reaper.settled();
}

/** Ends the reaper (the daemon stopping), after what is queued, within `ms`. */
export function stopReaper(ms?: number): Promise<void> {
  return reaper.stop(ms);
}
