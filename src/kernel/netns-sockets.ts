import { closeSync } from 'node:fs';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { AF_INET, errno, libc, SOCK_DGRAM, sockets } from './libc.js';
import { inNamedNetns } from './netlink/namespaces.js';

/**
 * Sockets that live in another network namespace but are served by this process: the
 * embedded DNS resolver listens on 127.0.0.11:53 inside every container that uses it,
 * at ~2 kB per namespace instead of a process or thread each (research/kernel-interface.md
 * §5). A socket belongs to the namespace of the thread that creates it, so each is created
 * synchronously while this thread is inside the namespace:
 * with libc (Node's `listen` resolves its host asynchronously: its socket would be made
 * back in the daemon's namespace) and handed over as a descriptor.
 */
const setsockoptC = libc.func('int setsockopt(int fd, int level, int name, const int *value, uint32_t len)');
const bindC = libc.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
const listenC = libc.func('int listen(int fd, int backlog)');

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;

export class NetnsSocketError extends Error {}

/** A `struct sockaddr_in` for address:port. */
export function sockaddrIn(address: string, port: number): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  address.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
  return b;
}

/**
 * A non-blocking UDP socket bound to address:port inside `netns`, as a descriptor: the
 * embedded resolver serves these from a thread of its own, in batches (kernel/udp-batch.ts).
 * The caller owns it and closes it.
 */
export function bindUdpDescriptorInNetns(netns: string, address: string, port: number): number {
  return inNamedNetns(netns, () => {
    const s = sockets.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
    if (s < 0) throw new NetnsSocketError(`socket() failed in ${netns}: errno ${errno()}`);
    if ((bindC(s, sockaddrIn(address, port), 16) as number) !== 0) {
      const failure = errno();
      closeSync(s);
      throw new NetnsSocketError(`cannot bind udp ${address}:${port} in ${netns}: errno ${failure}`);
    }
    return s;
  });
}

/** A TCP server listening on address:port inside `netns`. */
export function listenTcpInNetns(netns: string, address: string, port: number, onConnection: (socket: TcpSocket) => void): Server {
  const fd = inNamedNetns(netns, () => {
    const s = sockets.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
    if (s < 0) throw new NetnsSocketError(`socket() failed in ${netns}: errno ${errno()}`);
    const one = [1];
    const ok =
      (setsockoptC(s, SOL_SOCKET, SO_REUSEADDR, one, 4) as number) === 0 &&
      (bindC(s, sockaddrIn(address, port), 16) as number) === 0 &&
      (listenC(s, 64) as number) === 0;
    if (!ok) {
      const failure = errno();
      closeSync(s);
      throw new NetnsSocketError(`cannot listen on tcp ${address}:${port} in ${netns}: errno ${failure}`);
    }
    return s;
  });
  const server = createServer(onConnection);
  server.on('error', () => undefined);
  server.listen({ fd });
  return server;
}
