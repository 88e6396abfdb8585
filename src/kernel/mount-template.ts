import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { KernelError } from '../common/errors.js';
import { prepareNetnsDir } from './netlink/namespaces.js';
import { NETNS_DIR } from './netns-dir.js';

/**
 * The mount namespace every container's own is copied from: the host's mounts without the
 * network namespaces pinned under /run/netns.
 *
 * A new mount namespace is a copy of every mount of the one it is made from, and each
 * network namespace berth pins is a mount (a bind of its nsfs file on /run/netns/NAME, as
 * `ip netns add` makes it). Copied from the daemon's, the 1,000th container's mount
 * namespace held 1,000 pins: its `unshare --mount` took 4.5 ms instead of 1.7 (the copy
 * holds the kernel's global namespace lock, which every pin and unpin waits for), and
 * removing a container cost 2.7 ms more in unlinking its pin, which the kernel then
 * detaches from every mount namespace that copied it. berth has no new root to pivot into,
 * as runc has, that would drop them. So a container's first process, berth-init, enters
 * this template (setns) before it unshares its own.
 *
 * The template is a slave of the host's mounts (what the host mounts later appears in it,
 * as it would in a copy of the daemon's), with /run/netns unmounted in it. The daemon holds
 * it by a descriptor, not a pin: it needs no cleaning after a crash, and the kernel of the
 * VM berth was measured on (6.18) refused the bind of about half the new mount namespaces'
 * files with EINVAL, repeatably for a given namespace (docs/decisions.md). A container's
 * process is handed a copy of that descriptor (process.ts), so its start does not depend
 * on the daemon living until berth-init has entered it.
 */
export interface MountTemplate {
  /** This process's descriptor of the namespace (close-on-exec, as all of the daemon's). */
  readonly fd: number;
  close(): void;
}

/** How long the helper that makes the namespace may take (one `unshare` and one `umount`). */
const MAKE_TIMEOUT_MS = 10_000;

export async function openMountTemplate(): Promise<MountTemplate> {
  // Pins made after this must not propagate into the template: /run/netns must be the
  // mount the template drops before any pin exists under it.
  prepareNetnsDir();
  // The helper unmounts /run/netns in its new namespace, says so, and waits (holding the
  // namespace) until this process has opened it and closes the helper's stdin.
  const helper = spawn('unshare', ['--mount', '--propagation', 'slave', '--', 'sh', '-c', 'umount --lazy "$1" && echo ready && read _', 'berth-mount-template', NETNS_DIR], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  helper.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => helper.kill('SIGKILL'), MAKE_TIMEOUT_MS);
  try {
    const ready = await Promise.race([
      once(helper.stdout, 'data').then(() => true),
      once(helper, 'close').then(() => false),
      once(helper, 'error').then(([err]) => Promise.reject(err as Error)),
    ]);
    if (!ready) throw new Error(stderr.trim() || 'its helper ended without a word');
    const fd = openSync(`/proc/${helper.pid!}/ns/mnt`, 'r');
    return { fd, close: () => closeSync(fd) };
  } catch (err) {
    throw new KernelError(`cannot make the mount namespace containers start from: ${(err as Error).message}`, `unshare --mount --propagation slave -- umount --lazy ${NETNS_DIR}`, stderr);
  } finally {
    clearTimeout(timer);
    helper.stdin.end();
  }
}
