import { readFile } from 'node:fs/promises';

/** One interface's counters, as /proc/net/dev counts them. */
export interface InterfaceCounters {
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/**
 * The counters of every interface in the network namespace of process `pid` (a container's
 * first process): /proc/PID/net/dev shows that process's namespace, so no namespace is
 * entered and nothing is spawned. lo is left out, as in Docker's stats.
 */
export async function interfaceCounters(pid: number): Promise<Map<string, InterfaceCounters>> {
  const text = await readFile(`/proc/${pid}/net/dev`, 'utf8');
  return parseNetDev(text);
}

export function parseNetDev(text: string): Map<string, InterfaceCounters> {
  const out = new Map<string, InterfaceCounters>();
  // Two header lines, then "  eth0: rxbytes rxpackets errs drop fifo frame compressed multicast txbytes txpackets errs drop ...".
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 16) continue;
    out.set(name, { rxBytes: f[0]!, rxPackets: f[1]!, rxErrors: f[2]!, rxDropped: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txErrors: f[10]!, txDropped: f[11]! });
  }
  return out;
}
