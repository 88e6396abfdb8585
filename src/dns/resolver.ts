import type { Server, Socket as TcpSocket } from 'node:net';
import { bindUdpDescriptorInNetns, listenTcpInNetns, sockaddrIn } from '../kernel/netns-sockets.js';
import { closeDescriptor } from '../kernel/udp-batch.js';
import { AnsweringThread, type Ask } from './answer-thread.js';
import { UpstreamForwarder } from './forwarder.js';
import { addressOfPtrName, resolveAddress, resolveName, type NameIndex } from './names.js';
import { answer, failureFor, isResponse, OPCODE_QUERY, parseQuery, RCODE, type Query } from './wire.js';

/** Docker's address for the embedded resolver inside a container. */
export const RESOLVER_ADDRESS = '127.0.0.11';
const DNS_PORT = 53;
const RESOLVER_SOCKADDR = sockaddrIn(RESOLVER_ADDRESS, DNS_PORT);
/** A thread that keeps failing is a bug, not bad luck: restarting it forever would only hide it. */
const MAX_THREAD_RESTARTS = 5;

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
  /** Names changed (a container, network or remote peer came or went): answers cached before are stale. */
  namesChanged(): void;
  close(): Promise<void>;
}

interface Listener {
  /** The container's UDP socket, as the answering thread knows it. */
  readonly number: number;
  readonly netns: string;
  readonly tcp: Server;
}

/** What to do with one message: answer it (undefined: say nothing), or ask upstream. */
type Decision = { readonly kind: 'answer'; readonly reply: Buffer | undefined } | { readonly kind: 'forward'; readonly query: Query };

/**
 * The embedded resolver: one UDP socket and one TCP listener on 127.0.0.11:53 inside
 * each container namespace that uses it. A query is answered from the name index (names of
 * containers sharing a network with the querier), or sent upstream. The querier is known by
 * the socket the query arrived on, not its address.
 *
 * UDP is read and answered by a thread of its own (answer-thread.ts), in batches, from
 * answers cached there; what it has no answer for comes here, to `respond`, and local
 * answers go back into its cache. So a burst of queries never waits behind the API, and the
 * API never waits behind a burst. TCP (rare: truncated answers) is served here.
 */
export class EmbeddedResolver implements NameService {
  private readonly listeners = new Map<string, Listener>();
  /** Listener number → container id, for the answering thread's questions. */
  private readonly containerOf = new Map<number, string>();
  private nextListener = 1;
  private readonly thread: AnsweringThread;
  private threadFailures = 0;

  constructor(
    private readonly source: ResolverSource,
    private readonly forwarder = new UpstreamForwarder(),
    private readonly log: (message: string) => void = (m) => console.error(m),
  ) {
    this.thread = new AnsweringThread((ask) => this.answerAsk(ask), (m) => this.threadFailed(m));
  }

  attach(containerId: string, netns: string): void {
    this.detach(containerId);
    const fd = bindUdpDescriptorInNetns(netns, RESOLVER_ADDRESS, DNS_PORT);
    let tcp: Server;
    try {
      tcp = listenTcpInNetns(netns, RESOLVER_ADDRESS, DNS_PORT, (conn) => this.serveTcp(containerId, conn));
    } catch (err) {
      closeDescriptor(fd);
      throw err;
    }
    const number = this.nextListener++;
    this.listeners.set(containerId, { number, netns, tcp });
    this.containerOf.set(number, containerId);
    this.thread.attach(number, fd, RESOLVER_SOCKADDR);
  }

  detach(containerId: string): void {
    const l = this.listeners.get(containerId);
    if (!l) return;
    this.listeners.delete(containerId);
    this.containerOf.delete(l.number);
    this.thread.detach(l.number);
    l.tcp.close();
  }

  namesChanged(): void {
    this.thread.namesChanged();
  }

  async close(): Promise<void> {
    for (const id of [...this.listeners.keys()]) this.detach(id);
    await this.thread.close();
    this.forwarder.close();
  }

  /** The reply to one message from a container; undefined when there is nothing to say. */
  async respond(containerId: string, message: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const decision = this.decide(containerId, message, transport);
    return decision.kind === 'answer' ? decision.reply : this.forward(containerId, message, decision.query, transport);
  }

  private decide(containerId: string, message: Buffer, transport: 'udp' | 'tcp'): Decision {
    // A response (QR set) is never answered: two resolvers must not answer each other.
    if (isResponse(message)) return { kind: 'answer', reply: undefined };
    const query = parseQuery(message);
    if (!query) return { kind: 'answer', reply: failureFor(message, RCODE.FORMERR) };
    // Standard queries of class IN only: UPDATE, NOTIFY and the other opcodes are not
    // implemented; CHAOS (version.bind) and other classes are refused, never forwarded.
    if (query.opcode !== OPCODE_QUERY) return { kind: 'answer', reply: failureFor(message, RCODE.NOTIMP) };
    if (query.class !== 'IN') return { kind: 'answer', reply: answer(query, RCODE.REFUSED) };
    const local = this.answerLocally(containerId, query, transport);
    if (local) return { kind: 'answer', reply: local };
    if (!this.source.mayForward(containerId)) return { kind: 'answer', reply: answer(query, RCODE.REFUSED) };
    return { kind: 'forward', query };
  }

  private async forward(containerId: string, message: Buffer, query: Query, transport: 'udp' | 'tcp'): Promise<Buffer> {
    try {
      return await this.forwarder.forward(message, this.source.upstreamsOf(containerId), transport);
    } catch {
      return answer(query, RCODE.SERVFAIL);
    }
  }

  /**
   * A UDP query the answering thread had no answer for. A local answer is computed and sent
   * back in this same turn, so the generation it is cached under is the one it was computed
   * under; a forwarded one is never cached.
   */
  private answerAsk(ask: Ask): void {
    const containerId = this.containerOf.get(ask.listener);
    // Gone meanwhile: still answered (with nothing), so the thread counts the question done.
    if (containerId === undefined) return this.thread.answer(ask, undefined, false);
    const message = Buffer.from(ask.message.buffer, ask.message.byteOffset, ask.message.length);
    const decision = this.decide(containerId, message, 'udp');
    if (decision.kind === 'answer') {
      this.thread.answer(ask, decision.reply, true);
      return;
    }
    this.forward(containerId, message, decision.query, 'udp')
      .then((reply) => this.thread.answer(ask, reply, false))
      .catch((err: unknown) => this.log(`berth: DNS answer for container ${containerId.slice(0, 12)} failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** The answering thread ended with an error (its sockets closed with it): every listener is made again, a few times at most. */
  private threadFailed(message: string): void {
    if (++this.threadFailures > MAX_THREAD_RESTARTS) {
      this.log(`berth: the DNS answering thread failed again (${message}); after ${MAX_THREAD_RESTARTS} restarts, containers get no UDP answers until the daemon restarts`);
      return;
    }
    this.log(`berth: the DNS answering thread failed (${message}); its listeners are made again`);
    const attached = [...this.listeners].map(([id, l]) => [id, l.netns] as const);
    for (const [id, netns] of attached) {
      try {
        this.attach(id, netns);
      } catch (err) {
        this.log(`berth: DNS for container ${id.slice(0, 12)} could not be restored: ${err instanceof Error ? err.message : String(err)}`);
      }
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
