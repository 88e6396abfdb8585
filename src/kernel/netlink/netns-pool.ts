import { closeSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { ReadyNetns } from './namespaces.js';

/** A request to the pool's thread: make this many namespaces. */
export interface ToPoolThread { readonly make: number }

/** What the pool's thread answers for each namespace asked for. */
export type FromPoolThread = ({ readonly kind: 'made' } & ReadyNetns) | { readonly kind: 'failed'; readonly message: string };

/**
 * Network namespaces made ahead of need, with their loopback up. Making one is 0.45 ms of a
 * container's ~1.8 ms attach (the kernel sets up every subsystem's state for it), and
 * bringing its lo up 0.13-0.25 ms more (its addresses and routes), and the daemon's thread
 * waits for all of it. A thread of its own (netns-pool-worker.ts) makes up to `size` on the other
 * core meanwhile; `netns-add` takes a ready one and pins it under its name (one bind mount),
 * or makes one itself when none is ready (a burst larger than the pool, or a failed thread).
 *
 * The ready ones are held by descriptors only, unpinned: `ip netns` does not list them,
 * nothing has to clean them up, and they are freed with the process, also when it dies. A
 * namespace waiting there is as new as one made at the moment but for its lo, which every
 * sandbox plan brings up right after `netns-add` (that step then changes nothing), and an
 * rtnetlink socket made inside it, for the plan's steps there: nothing else touches it
 * until it is pinned.
 *
 * The thread answers on a port of its own, which `take` also reads synchronously: a
 * namespace made while the daemon's thread had no turn of its event loop (back-to-back
 * attaches whose requests are all answered synchronously) is found all the same.
 */
export class NetnsPool {
  private readonly ready: ReadyNetns[] = [];
  private thread: PoolThread | undefined;
  private disabled = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly size: number) {}

  /** A ready namespace (the caller pins it and closes both descriptors), or undefined; asks for more either way. */
  take(): ReadyNetns | undefined {
    this.receiveWaiting();
    const made = this.ready.shift();
    this.refill();
    // No namespace asked for IDLE_MS: the thread ends and what waits is freed (a thread holds
    // ~8 MB); the next take starts one again.
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.stopThread(), IDLE_MS);
    this.idleTimer.unref();
    return made;
  }

  /** Ends the thread for good and frees the namespaces that wait (what a stopping process does anyway). */
  async close(): Promise<void> {
    this.disabled = true;
    clearTimeout(this.idleTimer);
    await this.stopThread();
  }

  /**
   * Asks for what is missing once half the pool is taken, in one message: each message wakes
   * the thread, and the wake-up cost the daemon's thread 0.3 ms per start in its profile
   * when every take asked for one namespace.
   */
  private refill(): void {
    if (this.disabled) return;
    const thread = this.thread ?? this.start();
    const missing = this.size - this.ready.length - thread.requested;
    if (missing < this.size / 2 && this.ready.length > 0) return;
    if (missing <= 0) return;
    thread.requested += missing;
    const request: ToPoolThread = { make: missing };
    thread.worker.postMessage(request);
  }

  /**
   * Frees what waits and ends the thread once it has answered what was asked: a namespace
   * it made is freed here, not lost with its message.
   */
  private async stopThread(): Promise<void> {
    for (const made of this.ready.splice(0)) closeReady(made);
    const thread = this.thread;
    if (!thread) return;
    this.thread = undefined;
    // Someone waits for the thread now: it and its port keep the process alive until it answers.
    thread.worker.ref();
    thread.answers.ref();
    if (thread.requested > 0) await new Promise<void>((resolve) => (thread.answered = resolve));
    await thread.worker.terminate();
    thread.answers.close();
  }

  /** The answers the thread has sent and the event loop has not delivered yet. */
  private receiveWaiting(): void {
    const thread = this.thread;
    if (!thread) return;
    for (let got = receiveMessageOnPort(thread.answers); got !== undefined; got = receiveMessageOnPort(thread.answers)) this.answered(thread, got.message as FromPoolThread);
  }

  private answered(thread: PoolThread, answer: FromPoolThread): void {
    thread.requested--;
    // Made for a thread that is ending (idle, or closed): not needed any more.
    if (answer.kind === 'made' && this.thread === thread) this.ready.push({ netnsFd: answer.netnsFd, rtnetlinkFd: answer.rtnetlinkFd });
    else if (answer.kind === 'made') closeReady(answer);
    else this.disable(`cannot make a namespace ahead: ${answer.message}`);
    if (thread.requested === 0) thread.answered?.();
  }

  private start(): PoolThread {
    const { port1: answers, port2: answerPort } = new MessageChannel();
    const worker = new Worker(new URL('./netns-pool-worker.js', import.meta.url), { workerData: { answers: answerPort }, transferList: [answerPort] });
    const thread: PoolThread = { worker, answers, requested: 0 };
    answers.on('message', (answer: FromPoolThread) => this.answered(thread, answer));
    thread.worker.on('error', (err) => this.disable(`its thread failed: ${err.message}`));
    thread.worker.on('exit', () => {
      thread.answered?.();
      if (this.thread === thread) this.disable('its thread ended');
    });
    // Neither the thread nor its port keeps the process alive: what it holds is freed with the process.
    thread.worker.unref();
    answers.unref();
    this.thread = thread;
    return thread;
  }

  /** Namespaces are made on the daemon's thread from now on, as without a pool. */
  private disable(why: string): void {
    if (this.disabled) return;
    console.error(`berth: the namespace pool stops (${why}); namespaces are made when needed`);
    this.disabled = true;
    void this.stopThread();
  }
}

/** Frees a ready namespace that will not be used: its socket, then its descriptor (the namespace goes with its last one). */
export function closeReady(made: ReadyNetns): void {
  closeSync(made.rtnetlinkFd);
  closeSync(made.netnsFd);
}

/** The pool's thread, and how many namespaces it was asked for and has not answered yet. */
interface PoolThread {
  readonly worker: Worker;
  /** Where the thread's answers arrive. */
  readonly answers: MessagePort;
  requested: number;
  /** stopThread waiting for its last answer. */
  answered?: () => void;
}

/** How long the thread stays without a namespace being asked for. */
const IDLE_MS = 2000;

/**
 * How many namespaces wait ready: an attach takes ~1.4 ms and making one 0.45, so a few
 * cover a steady stream of starts; refilled half a pool at a time.
 */
const POOL_SIZE = 8;

/** The process's pool, shared by every executor (one thread at most). */
export const netnsPool = new NetnsPool(POOL_SIZE);
