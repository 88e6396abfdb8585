import { readFileSync } from 'node:fs';
import type { HostState } from './netlink/rtnl.js';

/**
 * A cheap digest of the network state berth's objects live in: the host namespace's links
 * and addresses (`host`, as read by readHostState: two in-process rtnetlink dumps, no
 * process) and the link names inside each given sandbox (/proc/PID/net/dev, read
 * synchronously: a few µs each, against ~0.2 ms of thread-pool round trips). Drift repair
 * reads the full kernel view only when it changed, from the same host state.
 */
export function networkStateDigest(host: HostState, sandboxPids: readonly number[]): string {
  const inside = sandboxPids.map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/net/dev`, 'utf8')
        .split('\n')
        .map((l) => l.split(':')[0]!.trim())
        .join(',');
    } catch {
      return '';
    }
  });
  return `${host.digest}|${inside.join('|')}`;
}
