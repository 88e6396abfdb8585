import { constants as osConstants } from 'node:os';
import { AF_NETLINK, errno, errnoName, libc, MSG_DONTWAIT, MSG_TRUNC, O_CLOEXEC, SOCK_RAW, sockets } from '../libc.js';

/**
 * A netlink socket used synchronously: a request is sent and its answers read in the same
 * call, without a turn of the event loop in between. The transport under the rtnetlink
 * socket (route-socket.ts) and the nf_tables one (nf-tables-socket.ts); each formats and
 * parses its own messages.
 *
 * The kernel handles an rtnetlink request or an nf_tables batch inside the send call (in
 * the sender's context) and has queued the answers when send returns, so they are read at
 * once. Should one not be queued yet (no request berth sends answers later), the socket is
 * waited on for at most ANSWER_WAIT_MS. A dump's next part is filled inside the receive
 * call that takes the previous one.
 *
 * The socket belongs to the namespace the calling thread is in when it is made (see
 * namespaces.ts: inNetns). It joins no multicast group, so only answers arrive on it.
 */
export class SyncNetlinkSocket {
  readonly fd: number;

  /**
   * `what` names the protocol in errors ("rtnetlink", "nf_tables"). `adoptedFd`: a socket of
   * that protocol already open, which this one owns from now on, instead of a new one.
   */
  constructor(
    protocol: number,
    private readonly what: string,
    adoptedFd?: number,
  ) {
    this.fd = adoptedFd ?? (sockets.socket(AF_NETLINK, SOCK_RAW | O_CLOEXEC, protocol) as number);
    if (this.fd < 0) throw new Error(`cannot open a ${what} socket: ${errnoName(errno())}`);
  }

  close(): void {
    sockets.close(this.fd);
  }

  send(bytes: Buffer): void {
    if ((sockets.send(this.fd, bytes, bytes.length, 0) as number) !== bytes.length) throw new Error(`sending to ${this.what} failed: ${errnoName(errno())}`);
  }

  /**
   * The messages of the next datagram whose sequence number `wanted` accepts (answers to an
   * earlier request left unread, by a failure half-way, are skipped), each with its payload
   * after the netlink header.
   */
  receive(wanted: (seq: number) => boolean): NetlinkAnswer[] {
    const deadline = Date.now() + ANSWER_WAIT_MS;
    let got = sockets.recv(this.fd, received, received.length, MSG_DONTWAIT | MSG_TRUNC) as number;
    // Nothing queued yet (or a signal cut a call short): wait for the socket, up to the deadline.
    while (got < 0 && (errno() === EAGAIN || errno() === EINTR)) {
      const left = deadline - Date.now();
      if (left <= 0 || ((pollC(pollFd(this.fd), 1, left) as number) < 0 && errno() !== EINTR)) throw new Error(`${this.what} did not answer within ${ANSWER_WAIT_MS} ms`);
      got = sockets.recv(this.fd, received, received.length, MSG_DONTWAIT | MSG_TRUNC) as number;
    }
    if (got < 0) throw new Error(`reading from ${this.what} failed: ${errnoName(errno())}`);
    if (got > received.length) {
      // Cut off (a datagram larger than any the kernel sends a reader of this size): the next read gets room.
      received = Buffer.alloc(got);
      throw new Error(`a ${this.what} answer of ${got} bytes was cut off`);
    }
    const messages: NetlinkAnswer[] = [];
    for (let at = 0; at + NLMSG_HDRLEN <= got; ) {
      const length = received.readUInt32LE(at);
      if (length < NLMSG_HDRLEN || at + length > got) break;
      const seq = received.readUInt32LE(at + 8);
      if (wanted(seq)) messages.push({ type: received.readUInt16LE(at + 4), seq, data: Buffer.from(received.subarray(at + NLMSG_HDRLEN, at + length)) });
      at += (length + 3) & ~3;
    }
    return messages;
  }
}

/** One message of an answer: its type, sequence number and payload (after the netlink header). */
export interface NetlinkAnswer {
  readonly type: number;
  readonly seq: number;
  readonly data: Buffer;
}

/** The errno an NLMSG_ERROR (or NLMSG_DONE) payload carries, negated in its first 4 bytes; 0 is an acknowledgement. */
export function answerErrno(payload: Buffer): number {
  return -payload.readInt32LE(0);
}

// linux/netlink.h, poll.h
export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
const POLLIN = 1;
const { EAGAIN, EINTR } = osConstants.errno;
/** The kernel sends a dump in parts of at most 32 KiB; one link's description is ~1.5 KiB. */
const RECEIVE_BYTES = 64 << 10;
const ANSWER_WAIT_MS = 5000;

const pollC = libc.func('int poll(uint8_t *fds, unsigned long nfds, int timeout)');

/**
 * Where every socket of this thread reads its answers: one buffer, not one per socket (a
 * plan opens a socket in each sandbox it touches), safe to share because each read is
 * parsed before the call that made it returns.
 */
let received = Buffer.alloc(RECEIVE_BYTES);

/** struct pollfd { int fd; short events; short revents; } asking whether `fd` has something to read. */
function pollFd(fd: number): Buffer {
  const entry = Buffer.alloc(8);
  entry.writeInt32LE(fd, 0);
  entry.writeInt16LE(POLLIN, 4);
  return entry;
}
