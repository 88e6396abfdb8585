import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket as TcpSocket } from 'node:net';
import { bindUdpInNetns, listenTcpInNetns } from '../kernel/netns-sockets.js';
import { UpstreamForwarder } from './forwarder.js';
import { addressOfPtrName, resolveAddress, resolveName, type NameIndex } from './names.js';
import { answer, failureFor, isResponse, OPCODE_QUERY, parseQuery, RCODE, type Query } from './wire.js';

/** Docker's address for the embedded resolver inside a container. */
export const RESOLVER_ADDRESS = '127.0.0.11';
const DNS_PORT = 53;

/** What the resolver needs to know, always current (the engine's tables behind it). */
export interface ResolverSource {
  index(): NameIndex;
  /** The user-defined networks the container is on (the scope of its queries). */
  networksOf(containerId: string): readonly string[];
  /** Where its other queries go. */
  upstreamsOf(containerId: string): readonly string[];
  /** Whether its queries may go upstream at all (not for containers on internal networks only). */
  mayForward(containerId: string): boolean;
}

/** The engine's view of a name service: one listener per container that uses it. */
export interface NameService {
  attach(containerId: string, netns: string): void;
  detach(containerId: string): void;
  close(): void;
}

interface Listener {
  readonly udp: UdpSocket;
  readonly tcp: Server;
}

/**
 * The embedded DNS resolver: one UDP socket and one TCP listener on 127.0.0.11:53 inside
 * each container namespace that uses it, all served by the daemon. A query is answered
 * from the name index (names of containers sharing a network with the querier), or sent
 * upstream. The querier is known by the socket the query arrived on, not its address.
 */
export class EmbeddedResolver implements NameService {
  private readonly listeners = new Map<string, Listener>();

  constructor(
    private readonly source: ResolverSource,
    private readonly forwarder = new UpstreamForwarder(),
  ) {}

  attach(containerId: string, netns: string): void {
    this.detach(containerId);
    const udp = bindUdpInNetns(netns, RESOLVER_ADDRESS, DNS_PORT, (message, from, socket) => {
      // A datagram "from" the resolver itself is spoofed: answering it would loop forever.
      if (from.address === RESOLVER_ADDRESS && from.port === DNS_PORT) return;
      this.respond(containerId, message, 'udp')
        .then((reply) => {
          // The container may be gone while an upstream answered: its socket is closed then.
          if (reply && this.listeners.get(containerId)?.udp === socket) socket.send(reply, from.port, from.address, () => undefined);
        })
        .catch((err: unknown) => console.error(`berth: DNS answer for container ${containerId.slice(0, 12)} failed: ${err instanceof Error ? err.message : String(err)}`));
    });
    let tcp: Server;
    try {
      tcp = listenTcpInNetns(netns, RESOLVER_ADDRESS, DNS_PORT, (conn) => this.serveTcp(containerId, conn));
    } catch (err) {
      udp.close();
      throw err;
    }
    this.listeners.set(containerId, { udp, tcp });
  }

  detach(containerId: string): void {
    const l = this.listeners.get(containerId);
    if (!l) return;
    this.listeners.delete(containerId);
    l.udp.close();
    l.tcp.close();
  }

  close(): void {
    for (const id of [...this.listeners.keys()]) this.detach(id);
    this.forwarder.close();
  }

  /** The reply to one message from a container; undefined when there is nothing to say. */
  async respond(containerId: string, message: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    // A response (QR set) is never answered: two resolvers must not answer each other.
    if (isResponse(message)) return undefined;
    const query = parseQuery(message);
    if (!query) return failureFor(message, RCODE.FORMERR);
    // Standard queries of class IN only: UPDATE, NOTIFY and the other opcodes are not
    // implemented; CHAOS (version.bind) and other classes are refused, never forwarded.
    if (query.opcode !== OPCODE_QUERY) return failureFor(message, RCODE.NOTIMP);
    if (query.class !== 'IN') return answer(query, RCODE.REFUSED);
    const local = this.answerLocally(containerId, query, transport);
    if (local) return local;
    if (!this.source.mayForward(containerId)) return answer(query, RCODE.REFUSED);
    try {
      return await this.forwarder.forward(message, this.source.upstreamsOf(containerId), transport);
    } catch {
      return answer(query, RCODE.SERVFAIL);
    }
  }

  private answerLocally(containerId: string, query: Query, transport: 'udp' | 'tcp'): Buffer | undefined {
    const networks = this.source.networksOf(containerId);
    const index = this.source.index();
    const ptrAddress = query.type === 'PTR' ? addressOfPtrName(query.name) : undefined;
    if (ptrAddress !== undefined) {
      const found = resolveAddress(index, networks, ptrAddress);
      if (found.kind === 'forward') return undefined;
      if (found.kind === 'nxdomain') return answer(query, RCODE.NXDOMAIN);
      return answer(query, RCODE.NOERROR, found.names.map((name) => ({ type: 'PTR', name })), transport);
    }
    const found = resolveName(index, networks, query.name);
    if (found.kind === 'forward') return undefined;
    if (found.kind === 'nxdomain') return answer(query, RCODE.NXDOMAIN);
    // A local name has IPv4 addresses only: other types get an empty NOERROR at once, so a
    // resolver asking A and AAAA together does not wait for an upstream.
    const records = query.type === 'A' ? found.addresses.map((address) => ({ type: 'A' as const, address })) : [];
    return answer(query, RCODE.NOERROR, records, transport);
  }

  /** DNS over TCP: messages with a 2-byte length prefix, each answered when ready (RFC 7766 allows any order). */
  private serveTcp(containerId: string, conn: TcpSocket): void {
    let buffered = Buffer.alloc(0);
    conn.on('error', () => undefined);
    conn.setTimeout(10_000, () => conn.destroy());
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const message = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + message.length);
        this.respond(containerId, Buffer.from(message), 'tcp')
          .then((reply) => {
            if (!reply || conn.destroyed) return;
            const length = Buffer.alloc(2);
            length.writeUInt16BE(reply.length);
            conn.write(Buffer.concat([length, reply]));
          })
          .catch(() => conn.destroy());
      }
    });
  }
}
