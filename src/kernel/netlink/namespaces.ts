import { closeSync, mkdirSync, openSync, unlinkSync, constants } from 'node:fs';
import { join } from 'node:path';
import { AF_INET, AF_NETLINK, errno, IFNAMSIZ, interfaceRequest, libc, NETLINK_ROUTE, O_CLOEXEC, SOCK_DGRAM, SOCK_RAW, sockets } from '../libc.js';
import { NETNS_DIR } from '../netns-dir.js';

/**
 * Network namespaces without spawning `ip`: libc's unshare/setns/mount through koffi
 * (0.3 ms to create one, against ~2 ms for a process; research/kernel-interface.md §5).
 * Namespaces are pinned exactly as `ip netns add` pins them (a bind mount of the nsfs
 * file on /run/netns/NAME), so `ip -n NAME` keeps working on them.
 *
 * These calls move the *calling thread* between namespaces and back, synchronously: no
 * JavaScript can run in between. If moving back fails the process must die — everything
 * it did afterwards would happen in the wrong namespace.
 */
const setnsC = libc.func('int setns(int fd, int nstype)');
const unshareC = libc.func('int unshare(int flags)');
const mountC = libc.func('int mount(const char *src, const char *tgt, const char *fstype, unsigned long flags, const void *data)');
const umount2C = libc.func('int umount2(const char *target, int flags)');
const openC = libc.func('int open(const char *path, int flags)');

const CLONE_NEWNET = 0x40000000;
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_SHARED = 1 << 20;
const MNT_DETACH = 2;
const EINVAL = 22;
/** linux/sockios.h, linux/if.h (an ifreq's flags are a short). */
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 1;

export class NamespaceSyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: errno ${errno}`);
  }
}

function check(rc: number, call: string): void {
  if (rc !== 0) throw new NamespaceSyscallError(call, errno());
}

/** Runs `fn` with this thread inside the namespace pinned as /run/netns/`name`. */
export function inNamedNetns<T>(name: string, fn: () => T): T {
  const fd = openNetns(name);
  try {
    return inNetns(fd, fn);
  } finally {
    closeSync(fd);
  }
}

/** Runs `fn` with this thread inside the namespace open at `fd`. */
export function inNetns<T>(fd: number, fn: () => T): T {
  return awayFrom(() => check(setnsC(fd, CLONE_NEWNET) as number, 'setns'), fn);
}

/**
 * Runs `fn` with this thread moved by `enter` (into a namespace, or a new one), then moves
 * it back to where it was. If moving back fails the process dies: everything it did
 * afterwards would happen in the wrong namespace.
 */
function awayFrom<T>(enter: () => void, fn: () => T): T {
  const original = openSync('/proc/thread-self/ns/net', 'r');
  try {
    enter();
    try {
      return fn();
    } finally {
      if ((setnsC(original, CLONE_NEWNET) as number) !== 0) {
        console.error('berth: cannot return to the original network namespace; aborting');
        process.abort();
      }
    }
  } finally {
    closeSync(original);
  }
}

/** Moves this thread into a new network namespace (awayFrom's `enter`). */
function enterNewNetns(): void {
  check(unshareC(CLONE_NEWNET) as number, 'unshare(CLONE_NEWNET)');
}

let mountPointReady = false;

/** What `ip netns add` does first: /run/netns becomes a shared mount point, so pins propagate. */
export function prepareNetnsDir(): void {
  if (mountPointReady) return;
  mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  if ((mountC('none', NETNS_DIR, null, MS_SHARED | MS_REC, null) as number) !== 0) {
    if (errno() !== EINVAL) throw new NamespaceSyscallError('mount --make-shared /run/netns', errno());
    check(mountC(NETNS_DIR, NETNS_DIR, 'none', MS_BIND | MS_REC, null) as number, 'mount --bind /run/netns');
    check(mountC('none', NETNS_DIR, null, MS_SHARED | MS_REC, null) as number, 'mount --make-shared /run/netns');
  }
  mountPointReady = true;
}

/** The file a namespace is pinned on, made empty (it must not exist yet). */
function newPinPath(name: string): string {
  prepareNetnsDir();
  const path = join(NETNS_DIR, name);
  closeSync(openSync(path, constants.O_RDONLY | constants.O_CREAT | constants.O_EXCL, 0o444));
  return path;
}

/** = `ip netns add NAME`. */
export function addNetns(name: string): void {
  const path = newPinPath(name);
  try {
    awayFrom(enterNewNetns, () => check(mountC('/proc/thread-self/ns/net', path, 'none', MS_BIND, null) as number, `mount --bind ${path}`));
  } catch (err) {
    unlinkSync(path);
    throw err;
  }
}

/** A namespace made ahead of need (newReadyNetns): both descriptors are the caller's to close. */
export interface ReadyNetns {
  /** Holds the namespace: pinNetns names it. */
  readonly netnsFd: number;
  /** An rtnetlink socket made inside it: its requests act there, with no setns (Rtnl's adoptedFd). */
  readonly rtnetlinkFd: number;
}

/**
 * A new network namespace, its loopback up (what a sandbox's plan does first), held only
 * by the descriptors returned: made by this thread (unshare) without a pin under
 * /run/netns, so nothing lists it and it is freed with them, also when the process dies.
 * The namespace pool's thread makes them ahead of need; pinNetns names one. The socket
 * spares the thread that uses the namespace a setns there and back, and the socket's
 * making (~40 µs of an attach's ~1.2 ms here).
 */
export function newReadyNetns(): ReadyNetns {
  return awayFrom(enterNewNetns, () => {
    setLoopbackUp();
    // Opened by libc, not Node: a worker thread's own opens are Node's to track and close
    // with the thread, and these descriptors are handed to another thread.
    const netnsFd = openC('/proc/thread-self/ns/net', constants.O_RDONLY | O_CLOEXEC) as number;
    if (netnsFd < 0) throw new NamespaceSyscallError('open /proc/thread-self/ns/net', errno());
    const rtnetlinkFd = sockets.socket(AF_NETLINK, SOCK_RAW | O_CLOEXEC, NETLINK_ROUTE) as number;
    if (rtnetlinkFd < 0) {
      const code = errno();
      sockets.close(netnsFd);
      throw new NamespaceSyscallError('socket(AF_NETLINK)', code);
    }
    return { netnsFd, rtnetlinkFd };
  });
}

/** = ip link set lo up, in this thread's namespace: two ioctls on a socket made in it (no netlink socket to open). */
function setLoopbackUp(): void {
  const fd = sockets.socket(AF_INET, SOCK_DGRAM | O_CLOEXEC, 0) as number;
  if (fd < 0) throw new NamespaceSyscallError('socket', errno());
  try {
    const request = interfaceRequest('lo')!;
    check(sockets.ioctl(fd, SIOCGIFFLAGS, request) as number, 'ioctl SIOCGIFFLAGS lo');
    request.writeInt16LE(request.readInt16LE(IFNAMSIZ) | IFF_UP, IFNAMSIZ);
    check(sockets.ioctl(fd, SIOCSIFFLAGS, request) as number, 'ioctl SIOCSIFFLAGS lo');
  } finally {
    sockets.close(fd);
  }
}

/** Pins the namespace open at `fd` as /run/netns/NAME, as `ip netns add` would have made it (the descriptor stays the caller's). */
export function pinNetns(name: string, fd: number): void {
  const path = newPinPath(name);
  if ((mountC(`/proc/self/fd/${fd}`, path, 'none', MS_BIND, null) as number) !== 0) {
    const code = errno();
    unlinkSync(path);
    throw new NamespaceSyscallError(`mount --bind ${path}`, code);
  }
}

/** = `ip netns del NAME`. */
export function deleteNetns(name: string): void {
  const path = join(NETNS_DIR, name);
  // EINVAL: not a mount point. A crash between creating the pin's file and binding the
  // namespace onto it leaves a plain file; it goes like a pin (as `ip netns del` does).
  if ((umount2C(path, MNT_DETACH) as number) !== 0 && errno() !== EINVAL) throw new NamespaceSyscallError(`umount ${path}`, errno());
  unlinkSync(path);
}

export function openNetns(name: string): number {
  return openSync(join(NETNS_DIR, name), 'r');
}
