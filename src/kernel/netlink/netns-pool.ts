import { closeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** What the pool's thread answers to each request. */
export type FromPoolThread = { readonly kind: 'made'; readonly fd: number } | { readonly kind: 'failed'; readonly message: string };

/**
 * Network namespaces made ahead of need. Making one is 0.45 ms of a container's ~1.8 ms
 * attach (the kernel sets up every subsystem's state for it), and the daemon's thread waits
 * for all of it. A thread of its own (netns-pool-worker.ts) makes up to `size` on the other
 * core meanwhile; `netns-add` takes a ready one and pins it under its name (one bind mount),
 * or makes one itself when none is ready (a burst larger than the pool, or a failed thread).
 *
 * The ready ones are held by descriptors only, unpinned: `ip netns` does not list them,
 * nothing has to clean them up, and they are freed with the process, also when it dies. A
 * namespace waiting there is as new as one made at the moment: nothing touches it until
 * it is pinned.
 */
export class NetnsPool {
  private readonly ready: number[] = [];
  private requested = 0;
  private worker: Worker | undefined;
  private disabled = false;
  /** close() waiting for the thread's last answer. */
  private answered: (() => void) | undefined;

  constructor(private readonly size: number) {}

  /** A ready namespace's descriptor (the caller pins and closes it), or undefined; asks for more either way. */
  take(): number | undefined {
    const fd = this.ready.shift();
    this.refill();
    return fd;
  }

  /**
   * Ends the thread and frees the namespaces that wait (what a stopping process does
   * anyway), once the thread has answered what was asked: a namespace it made is freed
   * here, not lost with its message.
   */
  async close(): Promise<void> {
    this.disabled = true;
    for (const fd of this.ready.splice(0)) closeSync(fd);
    const worker = this.worker;
    if (!worker) return;
    // Someone waits for the thread now: it keeps the process alive until it answers.
    worker.ref();
    if (this.requested > 0) await new Promise<void>((resolve) => (this.answered = resolve));
    this.worker = undefined;
    await worker.terminate();
  }

  private refill(): void {
    if (this.disabled) return;
    const worker = this.worker ?? this.start();
    for (; this.ready.length + this.requested < this.size; this.requested++) worker.postMessage('make');
  }

  private start(): Worker {
    const worker = new Worker(new URL('./netns-pool-worker.js', import.meta.url));
    worker.on('message', (answer: FromPoolThread) => {
      this.requested--;
      if (answer.kind === 'made' && !this.disabled) this.ready.push(answer.fd);
      // Made after close (or after a failure): not needed any more.
      else if (answer.kind === 'made') closeSync(answer.fd);
      else this.disable(`cannot make a namespace ahead: ${answer.message}`);
      if (this.requested === 0) this.answered?.();
    });
    worker.on('error', (err) => this.disable(`its thread failed: ${err.message}`));
    worker.on('exit', () => {
      this.answered?.();
      if (this.worker === worker) this.disable('its thread ended');
    });
    // It never keeps the process alive: what it holds is freed with the process.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Namespaces are made on the daemon's thread from now on, as without a pool. */
  private disable(why: string): void {
    if (this.disabled) return;
    console.error(`berth: the namespace pool stops (${why}); namespaces are made when needed`);
    this.disabled = true;
    void this.worker?.terminate();
    this.worker = undefined;
  }
}

/** How many namespaces wait ready: an attach takes ~1.4 ms and making one 0.45, so a few cover a steady stream of starts. */
const POOL_SIZE = 4;

/** The process's pool, shared by every executor (one thread at most). */
export const netnsPool = new NetnsPool(POOL_SIZE);
