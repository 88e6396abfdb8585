import nl from 'netlink';
import { constants as osConstants } from 'node:os';
import { AF_NETLINK, errno, errnoName, IFNAMSIZ, interfaceRequest, libc, MSG_DONTWAIT, MSG_TRUNC, O_CLOEXEC, SOCK_RAW, sockets } from '../libc.js';

/**
 * An rtnetlink socket used synchronously: a request is sent and its answer read in the
 * same call, without a turn of the event loop in between.
 *
 * The kernel handles an rtnetlink request inside the send call (rtnetlink_rcv runs in the
 * sender's context, under the RTNL lock) and has queued the answer — the object asked for,
 * and the acknowledgement — when send returns, so the answer is read at once. Through the
 * `netlink` package the same answer waits for the event loop to poll the socket: 0.1-0.5 ms
 * a round trip on this VM, more than most requests cost the kernel (an attach's steps made
 * 1.4 ms of requests and waited ~0.9 ms more for their answers; docs/benchmarks.md).
 * Dumps are read the same way: the kernel fills the next part of a dump inside the receive
 * call that took the previous one.
 *
 * The socket belongs to the namespace the calling thread is in when it is made (see
 * namespaces.ts: inNetns). It joins no multicast group, so only answers arrive on it. The
 * messages are the `netlink` package's (formatted and parsed by it): only the transport is
 * this module's. Failures read as the package words them ("Request rejected: ENODEV"), so
 * callers and users see the same errors either way.
 */
export class RouteSocket {
  private readonly fd: number;
  private seq = 0;

  constructor() {
    this.fd = sockets.socket(AF_NETLINK, SOCK_RAW | O_CLOEXEC, NETLINK_ROUTE) as number;
    if (this.fd < 0) throw new Error(`cannot open an rtnetlink socket: ${errnoName(errno())}`);
  }

  close(): void {
    sockets.close(this.fd);
  }

  /**
   * The index of this socket's namespace's link `name`, asked with an ioctl on the socket
   * (SIOCGIFINDEX, which any socket answers for its namespace): a hash lookup, 3 µs, where
   * an RTM_GETLINK answer carries the whole link to parse. Undefined when there is none.
   */
  linkIndex(name: string): number | undefined {
    const request = interfaceRequest(name);
    if (request === undefined) return undefined;
    if ((sockets.ioctl(this.fd, SIOCGIFINDEX, request) as number) === 0) return request.readInt32LE(IFNAMSIZ);
    const code = errno();
    if (code === osConstants.errno.ENODEV) return undefined;
    throw new Error(`cannot ask rtnetlink's namespace for link ${name}: ${errnoName(code)}`);
  }

  newLink(data: nl.rt.Link, attrs: nl.ifla.LinkAttrs, flags = 0): void {
    this.request(MessageType.NEWLINK, flags, linkBody(data, attrs));
  }

  setLink(data: nl.rt.Link, attrs: nl.ifla.LinkAttrs): void {
    this.request(MessageType.SETLINK, 0, linkBody(data, attrs));
  }

  /** One link, by index (`data.index`) or by name (`attrs.ifname`). */
  getLink(data: nl.rt.Link, attrs: nl.ifla.LinkAttrs = {}): nl.rt.LinkMessage | undefined {
    return links(this.request(MessageType.GETLINK, 0, linkBody(data, attrs)))[0];
  }

  delLink(data: nl.rt.Link): void {
    this.request(MessageType.DELLINK, 0, linkBody(data, {}));
  }

  getLinks(): nl.rt.LinkMessage[] {
    return links(this.dump(MessageType.GETLINK, linkBody({}, {})));
  }

  newAddress(data: nl.rt.Address, attrs: nl.rt.AddressAttrs, flags = 0): void {
    this.request(MessageType.NEWADDR, flags, body(rt.formatAddressMessage, { kind: 'address', data, attrs }));
  }

  delAddress(data: nl.rt.Address, attrs: nl.rt.AddressAttrs): void {
    this.request(MessageType.DELADDR, 0, body(rt.formatAddressMessage, { kind: 'address', data, attrs }));
  }

  getAddresses(data: nl.rt.Address): nl.rt.AddressMessage[] {
    return this.dump(MessageType.GETADDR, body(rt.formatAddressMessage, { kind: 'address', data, attrs: {} })).filter((m): m is nl.rt.AddressMessage => m.kind === 'address');
  }

  newRoute(data: nl.rt.Route, attrs: nl.rt.RouteAttrs, flags = 0): void {
    this.request(MessageType.NEWROUTE, flags, body(rt.formatRouteMessage, { kind: 'route', data, attrs }));
  }

  getRoutes(data: nl.rt.Route): nl.rt.RouteMessage[] {
    return this.dump(MessageType.GETROUTE, body(rt.formatRouteMessage, { kind: 'route', data, attrs: {} })).filter((m): m is nl.rt.RouteMessage => m.kind === 'route');
  }

  newNeighbor(data: nl.rt.Neighbor, attrs: nl.rt.NeighborAttrs, flags = 0): void {
    this.request(MessageType.NEWNEIGH, flags, body(rt.formatNeighborMessage, { kind: 'neighbor', data, attrs }));
  }

  delNeighbor(data: nl.rt.Neighbor, attrs: nl.rt.NeighborAttrs): void {
    this.request(MessageType.DELNEIGH, 0, body(rt.formatNeighborMessage, { kind: 'neighbor', data, attrs }));
  }

  /** Sends one request (acknowledged) and returns what the kernel answered besides the acknowledgement (the link a GETLINK asks for). */
  private request(type: nl.rt.MessageType, flags: number, payload: readonly Uint8Array[]): nl.rt.Message[] {
    const seq = this.send(type, flags | NLM_F_REQUEST | NLM_F_ACK, payload);
    const answers: nl.rt.Message[] = [];
    for (;;) {
      for (const m of this.receive(seq)) {
        if (m.type === NLMSG_ERROR) {
          throwIfRefused(m.data);
          return answers;
        }
        answers.push(rt.parseMessage(m.type, m.data));
      }
    }
  }

  /** Sends a dump request and returns every object until the kernel's NLMSG_DONE. */
  private dump(type: nl.rt.MessageType, payload: readonly Uint8Array[]): nl.rt.Message[] {
    const seq = this.send(type, NLM_F_REQUEST | NLM_F_DUMP, payload);
    const answers: nl.rt.Message[] = [];
    for (;;) {
      for (const m of this.receive(seq)) {
        if (m.type === NLMSG_ERROR) throwIfRefused(m.data);
        // A dump the kernel could not finish carries its errno in NLMSG_DONE.
        if (m.type === NLMSG_DONE) {
          if (m.data.length >= 4) throwIfRefused(m.data);
          return answers;
        }
        answers.push(rt.parseMessage(m.type, m.data));
      }
    }
  }

  private send(type: number, flags: number, payload: readonly Uint8Array[]): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    const bytes = Buffer.concat(nl.formatMessage({ type, flags, seq: this.seq, port: 0, data: [...payload] }));
    if ((sockets.send(this.fd, bytes, bytes.length, 0) as number) !== bytes.length) throw new Error(`sending to rtnetlink failed: ${errnoName(errno())}`);
    return this.seq;
  }

  /**
   * The messages of the next datagram that answer `seq` (answers to an earlier request
   * left unread, by a failure half-way, are skipped). Read without waiting: the answer is
   * queued before send returns. Should it not be (no rtnetlink request known to berth
   * answers later), the socket is waited on for at most ANSWER_WAIT_MS.
   */
  private receive(seq: number): { type: number; data: Buffer }[] {
    const deadline = Date.now() + ANSWER_WAIT_MS;
    let got = sockets.recv(this.fd, received, received.length, MSG_DONTWAIT | MSG_TRUNC) as number;
    // Nothing queued yet (or a signal cut a call short): wait for the socket, up to the deadline.
    while (got < 0 && (errno() === EAGAIN || errno() === EINTR)) {
      const left = deadline - Date.now();
      if (left <= 0 || ((pollC(pollFd(this.fd), 1, left) as number) < 0 && errno() !== EINTR)) throw new Error(`rtnetlink did not answer within ${ANSWER_WAIT_MS} ms`);
      got = sockets.recv(this.fd, received, received.length, MSG_DONTWAIT | MSG_TRUNC) as number;
    }
    if (got < 0) throw new Error(`reading from rtnetlink failed: ${errnoName(errno())}`);
    if (got > received.length) {
      // Cut off (a datagram larger than any the kernel sends a reader of this size): the next read gets room.
      received = Buffer.alloc(got);
      throw new Error(`an rtnetlink answer of ${got} bytes was cut off`);
    }
    const messages: { type: number; data: Buffer }[] = [];
    for (let at = 0; at + NLMSG_HDRLEN <= got; ) {
      const length = received.readUInt32LE(at);
      if (length < NLMSG_HDRLEN || at + length > got) break;
      if (received.readUInt32LE(at + 8) === seq) messages.push({ type: received.readUInt16LE(at + 4), data: Buffer.from(received.subarray(at + NLMSG_HDRLEN, at + length)) });
      at += (length + 3) & ~3;
    }
    return messages;
  }
}

const { rt } = nl;
const MessageType = nl.rt.MessageType;

function body<T>(format: (message: T, out: nl.AttrStream) => void, message: T): Uint8Array[] {
  const out = new nl.AttrStream();
  format(message, out);
  return out.bufs;
}

function linkBody(data: nl.rt.Link, attrs: nl.ifla.LinkAttrs): Uint8Array[] {
  return body(rt.formatLinkMessage, { kind: 'link', data, attrs });
}

function links(messages: readonly nl.rt.Message[]): nl.rt.LinkMessage[] {
  return messages.filter((m): m is nl.rt.LinkMessage => m.kind === 'link');
}

/** An NLMSG_ERROR (or NLMSG_DONE) payload starts with the errno, negated; 0 is an acknowledgement. */
function throwIfRefused(payload: Buffer): void {
  const code = -payload.readInt32LE(0);
  if (code !== 0) throw new Error(`Request rejected: ${errnoName(code)}`);
}

// linux/netlink.h, linux/sockios.h, poll.h
const NETLINK_ROUTE = 0;
const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const SIOCGIFINDEX = 0x8933;
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
