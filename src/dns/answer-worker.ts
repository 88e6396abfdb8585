import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { closeDescriptor, DatagramBatch, ReadinessSet, sendDatagram } from '../kernel/udp-batch.js';
import { AnswerCache, answerKey } from './answer-cache.js';
import type { AnsweringThreadData, FromAnsweringThread, ToAnsweringThread } from './answer-protocol.js';

/**
 * The thread that answers the embedded resolver's UDP queries (started by answer-thread.ts).
 * It blocks in epoll_wait on every container's socket, reads each ready one in a batch,
 * answers from its cache with one sendmmsg, and hands the rest to the daemon's thread
 * (which knows the names and the upstreams) as `ask` messages. The daemon's messages wake
 * it through an eventfd and are read synchronously: this thread never returns to its own
 * event loop until it stops, so nothing here waits behind a timer or the API.
 */
const WAKE = 0;
const MAX_EVENTS = 256;
/** Queries waiting for the daemon at most; more are dropped, as a saturated resolver drops them (the client retries). */
const MAX_ASKING = 4096;
/** A DNS header is 12 bytes: anything shorter gets no answer, from the daemon either. */
const DNS_HEADER = 12;

function serve(port: MessagePort, data: AnsweringThreadData): void {
  const generation = new Int32Array(data.generation);
  const cache = new AnswerCache(Atomics.load(generation, 0));
  const listeners = new Map<number, number>();
  const selves = new Map<number, Uint8Array>();
  const ready = new ReadinessSet(MAX_EVENTS, data.wakeFd, WAKE);
  const batch = new DatagramBatch();
  let asking = 0;
  const tell = (m: FromAnsweringThread) => port.postMessage(m);

  /** The daemon's messages, all of them; false once told to stop. */
  const readMessages = (): boolean => {
    cache.sync(Atomics.load(generation, 0));
    for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
      const m = received.message as ToAnsweringThread;
      switch (m.kind) {
        case 'attach':
          listeners.set(m.listener, m.fd);
          selves.set(m.listener, m.self);
          ready.add(m.fd, m.listener);
          break;
        case 'detach': {
          const fd = listeners.get(m.listener);
          if (fd === undefined) break;
          listeners.delete(m.listener);
          selves.delete(m.listener);
          ready.remove(fd);
          closeDescriptor(fd);
          cache.forget(m.listener);
          break;
        }
        case 'answer': {
          asking--;
          const fd = listeners.get(m.listener);
          if (fd === undefined) break; // the container left while the daemon answered
          if (m.reply) sendDatagram(fd, m.reply, m.to);
          if (m.generation !== undefined) cache.store(m.listener, m.key, m.reply, m.generation);
          break;
        }
        case 'stop':
          return false;
      }
    }
    return true;
  };

  const serveListener = (listener: number, fd: number): void => {
    const n = batch.receive(fd);
    if (n === 0) return;
    cache.sync(Atomics.load(generation, 0));
    const self = selves.get(listener)!;
    for (let i = 0; i < n; i++) {
      const query = batch.datagram(i);
      if (!query || query.length < DNS_HEADER || sameAddress(batch.source(i), self)) continue;
      const key = answerKey(query);
      const cached = cache.lookup(listener, key);
      if (cached === undefined) {
        if (asking >= MAX_ASKING) continue;
        asking++;
        tell({ kind: 'ask', listener, message: query.slice(), from: batch.source(i).slice(), key });
      } else if (cached !== null) {
        batch.reply(i, cached, (query[0]! << 8) | query[1]!);
      }
    }
    batch.flush(fd);
  };

  try {
    for (;;) {
      for (const token of ready.wait()) {
        if (token === WAKE) {
          ready.drainWake();
          if (!readMessages()) return;
          continue;
        }
        const fd = listeners.get(token);
        if (fd !== undefined) serveListener(token, fd);
      }
    }
  } finally {
    for (const fd of listeners.values()) closeDescriptor(fd);
    ready.close();
    batch.free();
  }
}

/** Whether two `struct sockaddr_in` name the same address and port (family, port, address: the first 8 bytes). */
function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

if (parentPort) {
  try {
    serve(parentPort, workerData as AnsweringThreadData);
  } catch (err) {
    parentPort.postMessage({ kind: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies FromAnsweringThread);
  }
}
