import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

/**
 * libc, loaded once for the whole process through koffi: the syscalls Node has no API for
 * (namespaces, sockets created inside another namespace). The socket calls several modules
 * make are declared below (`sockets`); a module declares the calls only it makes. `errno`
 * reads the error of the last failed call on this thread.
 */
export const libc = koffi.load('libc.so.6');

/** fcntl.h O_CLOEXEC (Node's fs.constants has no such entry). */
export const O_CLOEXEC = 0o2000000;

export function errno(): number {
  return koffi.errno();
}

/** An errno's name (ENOENT, EINVAL, ...), or "errno N" for one Node does not name. */
export function errnoName(code: number): string {
  return Object.entries(osConstants.errno).find(([, n]) => n === code)?.[0] ?? `errno ${code}`;
}

/**
 * The socket calls more than one module makes, declared once here (a module declares the
 * calls only it makes). Descriptors are numbers; buffers are passed by reference.
 */
export const sockets = {
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  close: libc.func('int close(int fd)'),
  send: libc.func('long send(int fd, const uint8_t *buf, unsigned long len, int flags)'),
  recv: libc.func('long recv(int fd, uint8_t *buf, unsigned long len, int flags)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long request, uint8_t *ifreq)'),
};

/** sys/socket.h values more than one module passes. */
export const AF_INET = 2;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
/** linux/netlink.h: rtnetlink's protocol number. */
export const NETLINK_ROUTE = 0;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;

/** linux/if.h: an interface name's room, its terminating zero included. */
export const IFNAMSIZ = 16;

/** sizeof(struct ifreq) on 64-bit Linux: the name, then a 24-byte union. */
export const INTERFACE_REQUEST_BYTES = 40;

/**
 * A `struct ifreq` naming interface `name` (its first IFNAMSIZ bytes; the union after them,
 * at IFNAMSIZ, is what an ioctl reads or fills: an index, flags); undefined when the name is
 * too long for any interface.
 */
export function interfaceRequest(name: string): Buffer | undefined {
  if (Buffer.byteLength(name) >= IFNAMSIZ) return undefined;
  const request = Buffer.alloc(INTERFACE_REQUEST_BYTES);
  request.write(name);
  return request;
}
