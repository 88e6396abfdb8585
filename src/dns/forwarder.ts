import { randomInt } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { messageId, withId } from './wire.js';

/**
 * Sends queries for names berth does not own to upstream servers, from the daemon's own
 * namespace (so a host resolver on 127.0.0.53 works, which a container could not reach).
 * Servers are tried in order, the list twice, each try with its own timeout; the budget
 * stays under the 5 s a client's resolver waits for one try, so the container gets a
 * SERVFAIL it can act on instead of a timeout.
 *
 * UDP goes through one socket for all queries: each gets a fresh message id, and a reply
 * is matched by id and by the server it came from.
 */
export interface ForwardPolicy {
  /** Passes over the server list. */
  readonly rounds: number;
  /** Time budget for all tries together. */
  readonly budgetMs: number;
  /** Bounds for one try. */
  readonly minTryMs: number;
  readonly maxTryMs: number;
}

export const DEFAULT_FORWARD_POLICY: ForwardPolicy = { rounds: 2, budgetMs: 3000, minTryMs: 250, maxTryMs: 1000 };

export class UpstreamUnavailableError extends Error {}

const MAX_PENDING = 0x8000;

interface Pending {
  readonly server: string;
  readonly originalId: number;
  resolve(reply: Buffer): void;
}

export class UpstreamForwarder {
  private socket: Socket | undefined;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly policy: ForwardPolicy = DEFAULT_FORWARD_POLICY) {}

  /** The upstream's reply to `query` (with the query's own id), or UpstreamUnavailableError. */
  async forward(query: Buffer, servers: readonly string[], transport: 'udp' | 'tcp'): Promise<Buffer> {
    if (servers.length === 0) throw new UpstreamUnavailableError('no upstream DNS servers are configured');
    const tryMs = Math.max(this.policy.minTryMs, Math.min(this.policy.maxTryMs, Math.floor(this.policy.budgetMs / (servers.length * this.policy.rounds))));
    const failures: string[] = [];
    for (let round = 0; round < this.policy.rounds; round++) {
      for (const server of servers) {
        try {
          return transport === 'udp' ? await this.overUdp(query, server, tryMs) : await overTcp(query, server, tryMs);
        } catch (err) {
          failures.push(`${server}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    throw new UpstreamUnavailableError(`no upstream answered: ${failures.join('; ')}`);
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
    for (const [id] of this.pending) this.pending.delete(id);
  }

  private udpSocket(): Socket {
    if (this.socket) return this.socket;
    const socket = createSocket('udp4');
    socket.on('message', (reply, from) => {
      if (reply.length < 12) return;
      const entry = this.pending.get(messageId(reply));
      if (!entry || entry.server !== from.address) return;
      this.pending.delete(messageId(reply));
      entry.resolve(withId(reply, entry.originalId));
    });
    socket.on('error', () => undefined); // an ICMP error for one server must not end the socket
    socket.unref();
    this.socket = socket;
    return socket;
  }

  private overUdp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer> {
    // Message ids are 16 bits: with most of them waiting, a new query is refused rather than
    // searched for a free id (a container flooding the resolver must not stall the daemon).
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new Error(`${MAX_PENDING} queries already wait for upstreams`));
    const socket = this.udpSocket();
    let id = randomInt(0x10000);
    while (this.pending.has(id)) id = randomInt(0x10000);
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        server,
        originalId: messageId(query),
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
      });
      socket.send(withId(query, id), 53, server, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err);
      });
    });
  }
}

/** One query over TCP (RFC 1035 §4.2.2: each message prefixed with its 2-byte length). */
function overTcp(query: Buffer, server: string, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server, port: 53 });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.end(Buffer.concat([length, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(received.subarray(2, 2 + received.readUInt16BE(0)));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
