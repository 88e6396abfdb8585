import nl from 'netlink';
import { constants as osConstants } from 'node:os';
import { errno, errnoName, IFNAMSIZ, INTERFACE_REQUEST_BYTES, interfaceRequest, NETLINK_ROUTE, sockets } from '../libc.js';
import { answerErrno, NLM_F_ACK, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, SyncNetlinkSocket } from './sync-socket.js';

/**
 * An rtnetlink socket used synchronously (sync-socket.ts): a request is sent and its answer
 * read in the same call. Through the `netlink` package the same answer waits for the event
 * loop to poll the socket: 0.1-0.5 ms a round trip on this VM, more than most requests cost
 * the kernel (an attach's steps made 1.4 ms of requests and waited ~0.9 ms more for their
 * answers; docs/benchmarks.md).
 *
 * The messages are the `netlink` package's (formatted and parsed by it): only the transport
 * is this module's. Failures read as the package words them ("Request rejected: ENODEV"),
 * so callers and users see the same errors either way.
 */
export class RouteSocket {
  private readonly socket: SyncNetlinkSocket;
  private seq = 0;

  /** `adoptedFd`: an rtnetlink socket already open (made in the namespace it is to act in), which this one then owns. */
  constructor(adoptedFd?: number) {
    this.socket = new SyncNetlinkSocket(NETLINK_ROUTE, 'rtnetlink', adoptedFd);
  }

  close(): void {
    this.socket.close();
  }

  /**
   * The index of this socket's namespace's link `name`, asked with an ioctl on the socket
   * (SIOCGIFINDEX, which any socket answers for its namespace): a hash lookup, 3 µs, where
   * an RTM_GETLINK answer carries the whole link to parse. Undefined when there is none.
   */
  linkIndex(name: string): number | undefined {
    const request = interfaceRequest(name);
    if (request === undefined) return undefined;
    if ((sockets.ioctl(this.socket.fd, SIOCGIFINDEX, request) as number) === 0) return request.readInt32LE(IFNAMSIZ);
    const code = errno();
    if (code === osConstants.errno.ENODEV) return undefined;
    throw new Error(`cannot ask rtnetlink's namespace for link ${name}: ${errnoName(code)}`);
  }

  /**
   * The name of this socket's namespace's link of index `index`, asked with an ioctl
   * (SIOCGIFNAME), for the same reason as linkIndex. Undefined when there is none.
   */
  linkName(index: number): string | undefined {
    const request = Buffer.alloc(INTERFACE_REQUEST_BYTES);
    request.writeInt32LE(index, IFNAMSIZ);
    if ((sockets.ioctl(this.socket.fd, SIOCGIFNAME, request) as number) === 0) return request.toString('utf8', 0, request.indexOf(0));
    const code = errno();
    if (code === osConstants.errno.ENODEV) return undefined;
    throw new Error(`cannot ask rtnetlink's namespace for link ${index}: ${errnoName(code)}`);
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
      for (const m of this.socket.receive((answered) => answered === seq)) {
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
      for (const m of this.socket.receive((answered) => answered === seq)) {
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
    this.socket.send(Buffer.concat(nl.formatMessage({ type, flags, seq: this.seq, port: 0, data: [...payload] })));
    return this.seq;
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

function throwIfRefused(payload: Buffer): void {
  const code = answerErrno(payload);
  if (code !== 0) throw new Error(`Request rejected: ${errnoName(code)}`);
}

// linux/netlink.h, linux/sockios.h
const NLM_F_DUMP = 0x300;
const SIOCGIFINDEX = 0x8933;
const SIOCGIFNAME = 0x8910;
