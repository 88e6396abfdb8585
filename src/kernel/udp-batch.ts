import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { errno, libc, MSG_DONTWAIT, MSG_TRUNC, sockets } from './libc.js';

/**
 * UDP in batches, for a thread that serves many sockets by itself: epoll to learn which
 * are readable, recvmmsg to read up to BATCH datagrams with one syscall, sendmmsg to answer
 * them with one more. Node's dgram costs a syscall, a libuv callback and a Buffer per
 * datagram; at 100k queries a second that is the whole budget (research/kernel-interface.md).
 *
 * The message vectors live in memory allocated once (koffi.alloc), laid out as the kernel
 * wants them (x86-64 / aarch64 LP64): `struct mmsghdr` (64 bytes), then the iovecs, the
 * source addresses (`struct sockaddr_in`, 16 bytes) and the payload buffers they point to.
 * A reply goes back to the address its query came from: the send vector points at the
 * receive vector's address slots, so nothing is copied for it.
 */
export const BATCH = 64;
/** The largest datagram read whole; longer ones are flagged truncated (no DNS query is this long). */
export const DATAGRAM_MAX = 4096;

const MMSGHDR = 64;
const IOVEC = 16;
const SOCKADDR_IN = 16;
const { EAGAIN, EINTR } = osConstants.errno;

const epollCreate1 = libc.func('int epoll_create1(int flags)');
const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)');
const epollWait = libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)');
const eventfdC = libc.func('int eventfd(unsigned int initval, int flags)');
// The vectors are passed by address (an integer): a send resumes part-way through its vector.
const recvmmsg = libc.func('int recvmmsg(int fd, uint64_t msgvec, unsigned int vlen, int flags, void *timeout)');
const sendmmsg = libc.func('int sendmmsg(int fd, uint64_t msgvec, unsigned int vlen, int flags)');
const sendtoC = libc.func('long sendto(int fd, const uint8_t *buf, unsigned long len, int flags, const uint8_t *addr, uint32_t addrlen)');
const readC = libc.func('long read(int fd, uint8_t *buf, unsigned long count)');
const writeC = libc.func('long write(int fd, const uint8_t *buf, unsigned long count)');

export class UdpBatchError extends Error {}

/** Native memory the kernel reads and writes, with its address and a view for this thread. */
class NativeBlock {
  readonly pointer: unknown;
  readonly address: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(size: number) {
    this.pointer = koffi.alloc('uint8_t', size);
    this.address = koffi.address(this.pointer);
    const buffer = koffi.view(this.pointer, size);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  free(): void {
    koffi.free(this.pointer);
  }
}

/**
 * One receive vector and one send vector of BATCH datagrams each. `receive` fills the
 * former from a socket; `reply(i, bytes)` queues an answer to datagram i; `flush` sends the
 * queued answers on the same socket.
 */
export class DatagramBatch {
  private readonly inbound = new NativeBlock(BATCH * (MMSGHDR + IOVEC + SOCKADDR_IN + DATAGRAM_MAX));
  private readonly outbound = new NativeBlock(BATCH * (MMSGHDR + IOVEC + DATAGRAM_MAX));
  private readonly inIovecs = BATCH * MMSGHDR;
  private readonly inAddresses = this.inIovecs + BATCH * IOVEC;
  private readonly inData = this.inAddresses + BATCH * SOCKADDR_IN;
  private readonly outIovecs = BATCH * MMSGHDR;
  private readonly outData = this.outIovecs + BATCH * IOVEC;
  private queued = 0;

  constructor() {
    const v = this.inbound.view;
    for (let i = 0; i < BATCH; i++) {
      const hdr = i * MMSGHDR;
      v.setBigUint64(hdr, this.inbound.address + BigInt(this.inAddresses + i * SOCKADDR_IN), true); // msg_name
      v.setBigUint64(hdr + 16, this.inbound.address + BigInt(this.inIovecs + i * IOVEC), true); // msg_iov
      v.setBigUint64(hdr + 24, 1n, true); // msg_iovlen
      v.setBigUint64(this.inIovecs + i * IOVEC, this.inbound.address + BigInt(this.inData + i * DATAGRAM_MAX), true);
      v.setBigUint64(this.inIovecs + i * IOVEC + 8, BigInt(DATAGRAM_MAX), true);
    }
    const o = this.outbound.view;
    for (let i = 0; i < BATCH; i++) {
      const hdr = i * MMSGHDR;
      o.setBigUint64(hdr + 16, this.outbound.address + BigInt(this.outIovecs + i * IOVEC), true);
      o.setBigUint64(hdr + 24, 1n, true);
      o.setBigUint64(this.outIovecs + i * IOVEC, this.outbound.address + BigInt(this.outData + i * DATAGRAM_MAX), true);
    }
  }

  /** Reads up to BATCH datagrams without waiting; how many (0 when none is queued). */
  receive(fd: number): number {
    const v = this.inbound.view;
    for (let i = 0; i < BATCH; i++) v.setUint32(i * MMSGHDR + 8, SOCKADDR_IN, true); // msg_namelen, rewritten by each read
    for (;;) {
      const n = recvmmsg(fd, this.inbound.address, BATCH, MSG_DONTWAIT, null) as number;
      if (n >= 0) return n;
      const e = errno();
      if (e === EINTR) continue;
      if (e === EAGAIN) return 0;
      throw new UdpBatchError(`recvmmsg on fd ${fd}: errno ${e}`);
    }
  }

  /** Datagram i of the last `receive`, or undefined when it was longer than DATAGRAM_MAX. */
  datagram(i: number): Uint8Array | undefined {
    const hdr = i * MMSGHDR;
    if ((this.inbound.view.getInt32(hdr + 48, true) & MSG_TRUNC) !== 0) return undefined;
    const length = this.inbound.view.getUint32(hdr + 56, true);
    const start = this.inData + i * DATAGRAM_MAX;
    return this.inbound.bytes.subarray(start, start + length);
  }

  /** The source address of datagram i (`struct sockaddr_in`), to answer it later. */
  source(i: number): Uint8Array {
    const start = this.inAddresses + i * SOCKADDR_IN;
    return this.inbound.bytes.subarray(start, start + SOCKADDR_IN);
  }

  /** Queues `bytes` as the answer to datagram i of the last `receive`; false when it cannot be sent whole. */
  reply(i: number, bytes: Uint8Array, id?: number): boolean {
    if (bytes.length > DATAGRAM_MAX) return false;
    const slot = this.queued++;
    const hdr = slot * MMSGHDR;
    const o = this.outbound.view;
    o.setBigUint64(hdr, this.inbound.address + BigInt(this.inAddresses + i * SOCKADDR_IN), true);
    o.setUint32(hdr + 8, this.inbound.view.getUint32(i * MMSGHDR + 8, true), true);
    o.setBigUint64(this.outIovecs + slot * IOVEC + 8, BigInt(bytes.length), true);
    const data = this.outData + slot * DATAGRAM_MAX;
    this.outbound.bytes.set(bytes, data);
    if (id !== undefined) o.setUint16(data, id);
    return true;
  }

  /** Sends what `reply` queued, on `fd`. A reply the socket has no room for is lost, as a busy resolver's would be. */
  flush(fd: number): void {
    let sent = 0;
    while (sent < this.queued) {
      const n = sendmmsg(fd, this.outbound.address + BigInt(sent * MMSGHDR), this.queued - sent, MSG_DONTWAIT) as number;
      if (n > 0) sent += n;
      // Full socket buffer, or the querier gone (ECONNREFUSED): that reply is lost, the rest still go.
      else if (errno() !== EINTR) sent++;
    }
    this.queued = 0;
  }

  free(): void {
    this.inbound.free();
    this.outbound.free();
  }
}

/** One datagram to one address (`struct sockaddr_in`), without waiting; false when it was not sent. */
export function sendDatagram(fd: number, bytes: Uint8Array, to: Uint8Array): boolean {
  return (sendtoC(fd, bytes, bytes.length, MSG_DONTWAIT, to, to.length) as number) === bytes.length;
}

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLIN = 0x1;
const EPOLL_CLOEXEC = 0o2000000;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
/** `struct epoll_event` is packed on x86-64 (12 bytes), naturally aligned elsewhere (16). */
const EPOLL_EVENT = process.arch === 'x64' ? 12 : 16;
const EPOLL_DATA = process.arch === 'x64' ? 4 : 8;

/** An eventfd that wakes a ReadinessSet from another thread (`wakeUp`); its creator closes it. */
export function createWakeDescriptor(): number {
  const fd = eventfdC(0, EFD_CLOEXEC | EFD_NONBLOCK) as number;
  if (fd < 0) throw new UdpBatchError(`eventfd: errno ${errno()}`);
  return fd;
}

/** Wakes the ReadinessSet watching `wakeFd` (callable from any thread). */
export function wakeUp(wakeFd: number): void {
  const one = new Uint8Array(8);
  one[0] = 1;
  writeC(wakeFd, one, 8);
}

/**
 * An epoll set whose members are known by a number of the caller's (a token), with a
 * wake-up descriptor (an eventfd of createWakeDescriptor) that another thread writes.
 */
export class ReadinessSet {
  private readonly fd: number;
  private readonly events: NativeBlock;
  private readonly event = new NativeBlock(EPOLL_EVENT);
  private readonly counter = new Uint8Array(8);

  /** `wait` reports `wakeToken` when `wakeFd` was written. */
  constructor(
    private readonly capacity: number,
    private readonly wakeFd: number,
    readonly wakeToken: number,
  ) {
    this.fd = epollCreate1(EPOLL_CLOEXEC) as number;
    if (this.fd < 0) throw new UdpBatchError(`epoll_create1: errno ${errno()}`);
    this.events = new NativeBlock(capacity * EPOLL_EVENT);
    this.add(wakeFd, wakeToken);
  }

  add(fd: number, token: number): void {
    this.event.view.setUint32(0, EPOLLIN, true);
    this.event.view.setUint32(EPOLL_DATA, token, true);
    if ((epollCtl(this.fd, EPOLL_CTL_ADD, fd, this.event.pointer) as number) < 0) throw new UdpBatchError(`epoll_ctl ADD fd ${fd}: errno ${errno()}`);
  }

  remove(fd: number): void {
    epollCtl(this.fd, EPOLL_CTL_DEL, fd, this.event.pointer);
  }

  /** Blocks until something is readable; the tokens of what is (the wake token when woken). */
  wait(): number[] {
    for (;;) {
      const n = epollWait(this.fd, this.events.pointer, this.capacity, -1) as number;
      if (n < 0) {
        if (errno() === EINTR) continue;
        throw new UdpBatchError(`epoll_wait: errno ${errno()}`);
      }
      const tokens: number[] = [];
      for (let i = 0; i < n; i++) tokens.push(this.events.view.getUint32(i * EPOLL_EVENT + EPOLL_DATA, true));
      return tokens;
    }
  }

  /** Resets the wake-up after `wait` reported it. */
  drainWake(): void {
    readC(this.wakeFd, this.counter, 8);
  }

  close(): void {
    sockets.close(this.fd);
    this.events.free();
    this.event.free();
  }
}

export function closeDescriptor(fd: number): void {
  sockets.close(fd);
}
