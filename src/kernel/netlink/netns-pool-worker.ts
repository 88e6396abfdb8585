import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { FromPoolThread } from './netns-pool.js';
import { newUnpinnedNetns } from './namespaces.js';

/**
 * The namespace pool's thread (netns-pool.ts): for each request it makes a network
 * namespace (unshare on this thread, lo up, then back) and answers with the descriptor that holds
 * it, on the port the pool gave it (which the pool can read without its event loop).
 * Descriptors belong to the process, so the daemon's thread pins and closes it. This
 * thread runs on the other core while the daemon's thread attaches containers.
 */
const port = parentPort;
const answers = (workerData as { answers?: MessagePort } | null)?.answers;
if (port && answers) {
  port.on('message', () => {
    let answer: FromPoolThread;
    try {
      answer = { kind: 'made', fd: newUnpinnedNetns({ loopbackUp: true }) };
    } catch (err) {
      answer = { kind: 'failed', message: err instanceof Error ? err.message : String(err) };
    }
    answers.postMessage(answer);
  });
}
