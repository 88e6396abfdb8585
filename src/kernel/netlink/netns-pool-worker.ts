import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { FromPoolThread, ToPoolThread } from './netns-pool.js';
import { newReadyNetns } from './namespaces.js';
import { libc } from '../libc.js';

/**
 * The namespace pool's thread (netns-pool.ts): for each request it makes the network
 * namespaces asked for (namespaces.ts newReadyNetns: unshare on this thread, lo up, an
 * rtnetlink socket made there, then back) and answers each with its descriptors, on the
 * port the pool gave it (which the pool can read without its event loop). Descriptors
 * belong to the process, so the daemon's thread pins, uses and closes them. This thread
 * runs on the other core while the daemon's thread attaches containers.
 */
/**
 * SCHED_BATCH for this thread alone (Linux schedules threads, pid 0 is the caller): woken by
 * a request, it does not preempt the daemon's thread that sent it (the kernel preempts on
 * wakeup only for SCHED_OTHER), but runs when a core is free. Preempting, it took ~0.8 ms
 * of that thread's time per namespace with both cores busy. Best effort: a refusal changes
 * nothing else.
 */
const SCHED_BATCH = 3;
libc.func('int sched_setscheduler(int pid, int policy, const void *param)')(0, SCHED_BATCH, Buffer.alloc(4));

const port = parentPort;
const answers = (workerData as { answers?: MessagePort } | null)?.answers;
if (port && answers) {
  port.on('message', (request: ToPoolThread) => {
    // One answer per namespace, each as soon as it is made: the pool can hand it out while
    // this thread makes the next.
    for (let i = 0; i < request.make; i++) {
      let answer: FromPoolThread;
      try {
        answer = { kind: 'made', ...newReadyNetns() };
      } catch (err) {
        answer = { kind: 'failed', message: err instanceof Error ? err.message : String(err) };
      }
      answers.postMessage(answer);
    }
  });
}
