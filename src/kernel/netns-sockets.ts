import { createSocket, type Socket } from 'node:dgram';
import { closeSync } from 'node:fs';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { errno, libc } from './libc.js';
import { inNamedNetns } from './netlink/namespaces.js';

/**
 * Sockets that live in another network namespace but are served by this process: the
 * embedded DNS resolver listens on 127.0.0.11:53 inside every container that uses it,
 * at ~2 kB per namespace instead of a process or thread each (research/kernel-interface.md
 * §5). A socket belongs to the namespace of the thread that creates it, so each is created
 * synchronously while this thread is inside the namespace:
 *  - UDP: `bind` with an address and a synchronous `lookup` creates the socket at once;
 *    its 'listening' or 'error' event fires inside `bind`, so listeners come first.
 *  - TCP: Node's `listen` resolves its host asynchronously (the socket would be made back
 *    in the daemon's namespace), so the listening fd is made with libc and handed over.
 */
const socketC = libc.func('int socket(int domain, int type, int protocol)');
const setsockoptC = libc.func('int setsockopt(int fd, int level, int name, const int *value, uint32_t len)');
const bindC = libc.func('int bind(int fd, const uint8_t *addr, uint32_t len)');
const listenC = libc.func('int listen(int fd, int backlog)');

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;

export class NetnsSocketError extends Error {}

/** A `struct sockaddr_in` for address:port. */
function sockaddrIn(address: string, port: number): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  address.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 4 + i));
  return b;
}

/** A UDP socket bound to address:port inside `netns`. */
export function bindUdpInNetns(netns: string, address: string, port: number, onMessage: (msg: Buffer, from: { address: string; port: number }, socket: Socket) => void): Socket {
  const socket = createSocket({ type: 'udp4', lookup: (host, _opts, cb) => cb(null, host, 4) });
  let bindError: Error | undefined;
  socket.once('error', (err) => (bindError = err));
  socket.on('message', (msg, rinfo) => onMessage(msg, rinfo, socket));
  inNamedNetns(netns, () => socket.bind({ address, port, exclusive: true }));
  if (bindError) {
    socket.close();
    throw new NetnsSocketError(`cannot bind udp ${address}:${port} in ${netns}: ${bindError.message}`);
  }
  socket.on('error', () => undefined); // a peer's ICMP error must not end the listener
  return socket;
}

/** A TCP server listening on address:port inside `netns`. */
export function listenTcpInNetns(netns: string, address: string, port: number, onConnection: (socket: TcpSocket) => void): Server {
  const fd = inNamedNetns(netns, () => {
    const s = socketC(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
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
