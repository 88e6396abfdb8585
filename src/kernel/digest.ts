import { readFile } from 'node:fs/promises';
import { Rtnl } from './netlink/rtnl.js';

/**
 * A cheap digest of the network state berth's objects live in: the host namespace's links
 * and addresses (two in-process rtnetlink dumps, no process) and the link names inside
 * each given sandbox (/proc/PID/net/dev). Drift repair reads the full kernel view only when
 * it changed, so a quiet host costs a few hundred microseconds per check.
 */
export async function networkStateDigest(sandboxPids: readonly number[]): Promise<string> {
  const socket = new Rtnl();
  let host: string;
  try {
    host = await socket.stateDigest();
  } finally {
    socket.close();
  }
  const inside = await Promise.all(sandboxPids.map((pid) => readFile(`/proc/${pid}/net/dev`, 'utf8').then((t) => t.split('\n').map((l) => l.split(':')[0]!.trim()).join(','), () => '')));
  return `${host}|${inside.join('|')}`;
}
