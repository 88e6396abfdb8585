import { readdirSync } from 'node:fs';
import { libc } from './libc.js';

/**
 * Every process berth starts (a container's, an exec's, a tool's) is to inherit only the
 * descriptors it is given (its stdio, a container's set-up report). Two kinds would reach
 * it otherwise, as nothing between fork and exec closes the rest:
 *  - descriptors the daemon itself inherited without close-on-exec from whatever started it
 *    (a shell or CI runner with a leaked pipe);
 *  - libnftables's netlink socket, which libmnl opens without close-on-exec. It is the host
 *    namespace's, and netlink checks the capabilities of whoever opened a socket, not of
 *    whoever writes to it: a `--user` container holding it could rewrite the host's firewall.
 * Node, libuv, the netlink library and berth's own libc calls open theirs close-on-exec.
 */
const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Marks every descriptor of this process above stderr close-on-exec. Idempotent; ~10 µs per descriptor. */
export function closeOnExecAll(): void {
  for (const entry of readdirSync('/proc/self/fd')) {
    const fd = Number(entry);
    if (fd <= 2) continue;
    // -1: closed meanwhile (the directory listing's own descriptor, among others).
    const flags = fcntl(fd, F_GETFD) as number;
    if (flags >= 0 && (flags & FD_CLOEXEC) === 0) fcntl(fd, F_SETFD, 'int', flags | FD_CLOEXEC);
  }
}
