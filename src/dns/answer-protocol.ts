/**
 * The messages between the daemon's thread and the thread that answers DNS datagrams
 * (answer-worker.ts). The daemon owns the names: the answering thread asks it about every
 * query it has no cached answer for, and caches what the daemon marks cacheable.
 * A listener is one container's UDP socket, known on both sides by a number.
 */
export type ToAnsweringThread =
  /**
   * Serve this descriptor (a bound UDP socket; the answering thread closes it at detach).
   * `self` is the address it is bound to (`struct sockaddr_in`): a datagram claiming to come
   * from there is spoofed, and answering it would have the socket answer itself forever.
   */
  | { readonly kind: 'attach'; readonly listener: number; readonly fd: number; readonly self: Uint8Array }
  | { readonly kind: 'detach'; readonly listener: number }
  /** The answer to an `ask` (null: send nothing), cacheable when `generation` is set. */
  | { readonly kind: 'answer'; readonly listener: number; readonly to: Uint8Array; readonly reply: Uint8Array | null; readonly key: string; readonly generation?: number }
  | { readonly kind: 'stop' };

export type FromAnsweringThread =
  /** A query with no cached answer: `from` is its source (`struct sockaddr_in`), `key` its cache key. */
  | { readonly kind: 'ask'; readonly listener: number; readonly message: Uint8Array; readonly from: Uint8Array; readonly key: string }
  /** Something failed in the answering thread: said once, in words, for the daemon's log. */
  | { readonly kind: 'failed'; readonly message: string };

/** What the answering thread is started with. */
export interface AnsweringThreadData {
  /** An Int32Array(1) over shared memory: the names' generation, bumped by the daemon at every change. */
  readonly generation: SharedArrayBuffer;
  /** The eventfd the daemon writes after each message, to wake the thread from epoll_wait. */
  readonly wakeFd: number;
}
