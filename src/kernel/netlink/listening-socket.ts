import { readdirSync, readlinkSync } from 'node:fs';
import { libc } from '../libc.js';

/**
 * Netlink sockets that only listen (the daemon's watches of links, addresses, routes and
 * the nftables ruleset). When events come faster than the daemon reads them (hundreds of
 * namespaces going at once), the kernel drops the overflow and fails the next read with
 * ENOBUFS, and the `netlink` library's native reader then aborts the process ("Error in
 * native callback": reproduced with 100 veth pairs made while the daemon was busy). So
 * each watch socket gets NETLINK_NO_ENOBUFS: the overflow is dropped without a failed read.
 * The events lost are not needed one by one: a watch only says "look again", and drift
 * repair's periodic check reads the state whole anyway.
 *
 * The library does not expose its descriptor, so it is found as the one socket that
 * appeared in /proc/self/fd while the socket was made (this thread makes sockets one at a
 * time; libuv's threads open files, not sockets).
 */
const setsockopt = libc.func('int setsockopt(int fd, int level, int name, const int *value, uint32_t len)');
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;

export class ListeningSocketError extends Error {}

export function listeningSocket<T>(make: () => T): T {
  const before = socketDescriptors();
  const socket = make();
  const made = [...socketDescriptors()].filter((fd) => !before.has(fd));
  if (made.length !== 1) throw new ListeningSocketError(`cannot tell the new netlink socket's descriptor (${made.length} new sockets)`);
  if ((setsockopt(made[0]!, SOL_NETLINK, NETLINK_NO_ENOBUFS, [1], 4) as number) !== 0) throw new ListeningSocketError('setsockopt NETLINK_NO_ENOBUFS failed');
  return socket;
}

function socketDescriptors(): Set<number> {
  const out = new Set<number>();
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`).startsWith('socket:')) out.add(Number(entry));
    } catch {
      // closed meanwhile (the directory's own descriptor)
    }
  }
  return out;
}
