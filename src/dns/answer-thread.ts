import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { closeDescriptor, createWakeDescriptor, wakeUp } from '../kernel/udp-batch.js';
import type { AnsweringThreadData, FromAnsweringThread, ToAnsweringThread } from './answer-protocol.js';

export type Ask = Extract<FromAnsweringThread, { kind: 'ask' }>;

/**
 * The daemon's side of the answering thread (answer-worker.ts): started at the first
 * listener, told of listeners and answers by message (each followed by a wake-up), and of
 * name changes by a generation number in shared memory, which the thread reads before it
 * answers from its cache: a name added or removed is seen by the very next query.
 */
export class AnsweringThread {
  private readonly generation = new Int32Array(new SharedArrayBuffer(4));
  private running: { readonly worker: Worker; readonly wakeFd: number } | undefined;

  constructor(
    private readonly onAsk: (ask: Ask) => void,
    /** The thread ended by itself (its sockets are closed): the listeners must be made again. */
    private readonly onFailure: (reason: string) => void,
  ) {}

  /** The names' generation now: an answer computed now is cacheable under it. */
  currentGeneration(): number {
    return Atomics.load(this.generation, 0);
  }

  /** Every cached answer is stale from now on. */
  namesChanged(): void {
    Atomics.add(this.generation, 0, 1);
  }

  attach(listener: number, fd: number, self: Uint8Array): void {
    this.send({ kind: 'attach', listener, fd, self });
  }

  detach(listener: number): void {
    if (this.running) this.send({ kind: 'detach', listener });
  }

  answer(ask: Ask, reply: Uint8Array | undefined, cacheable: boolean): void {
    if (!this.running) return;
    this.send({ kind: 'answer', listener: ask.listener, to: ask.from, reply: reply ?? null, key: ask.key, ...(cacheable ? { generation: this.currentGeneration() } : {}) });
  }

  /** Stops the thread (it closes the sockets it serves) and waits for it to end. */
  async close(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    const exited = once(running.worker, 'exit');
    running.worker.postMessage({ kind: 'stop' } satisfies ToAnsweringThread);
    wakeUp(running.wakeFd);
    await exited;
    closeDescriptor(running.wakeFd);
  }

  private send(message: ToAnsweringThread): void {
    const running = this.running ?? this.start();
    running.worker.postMessage(message);
    wakeUp(running.wakeFd);
  }

  private start(): { readonly worker: Worker; readonly wakeFd: number } {
    const wakeFd = createWakeDescriptor();
    const workerData: AnsweringThreadData = { generation: this.generation.buffer, wakeFd };
    const worker = new Worker(new URL('./answer-worker.js', import.meta.url), { workerData });
    let failure = 'it exited';
    worker.on('message', (m: FromAnsweringThread) => {
      if (m.kind === 'ask') this.onAsk(m);
      else failure = m.message;
    });
    worker.on('error', (err) => (failure = err.message));
    worker.on('exit', () => {
      if (this.running?.worker !== worker) return; // stopped by close()
      this.running = undefined;
      closeDescriptor(wakeFd);
      this.onFailure(failure);
    });
    // Not unref'd: the daemon's close awaits the thread's end, and an unref'd thread would let
    // the process exit in the middle of it (before the link reaper's work is done).
    this.running = { worker, wakeFd };
    return this.running;
  }
}
