import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../common/errors.js';
import { readdir, readFile } from 'node:fs/promises';
import { parseCidr, type Ipv4Cidr } from '../common/ipv4.js';
import { libnftablesAvailable, runNft } from './libnftables.js';
import { runTool } from './spawn.js';
import { Rtnl, type HostState, type LinkDetail } from './netlink/rtnl.js';
import { NETNS_DIR } from './netns-dir.js';

/**
 * Readers of live kernel state, for reconcile and for choosing free subnets: rtnetlink
 * dumps and /proc in-process, the firewall's presence checks through libnftables (or the
 * backend's own tools). No `ip` process: each cost 3-10 ms here.
 */

/** Named network namespaces (the files `ip netns add` pins under /run/netns). */
export async function listNetns(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Links of the namespace this process runs in. /proc/self/net follows the caller's
 * namespace (unlike /sys/class/net, which follows whoever mounted sysfs), so this is
 * right inside test sandboxes too, and costs no process. Read synchronously: the kernel
 * writes it in one go, where an asynchronous read of a /proc file takes several round
 * trips through the thread pool. It grows with the links: the kernel computes every
 * link's counters for it (0.3 ms with a few links, 2.5 ms with 2,000 here), so hot paths
 * that ask about a few names use hostLinkExists instead.
 */
export function hostLinkNames(): Promise<Set<string>> {
  return Promise.resolve(parseNetDev(readFileSync('/proc/self/net/dev', 'utf8')));
}

/**
 * Whether the host (the daemon's namespace) has a link named `name`, asked of the kernel by
 * name on the host's read socket: one ioctl, a hash lookup, the same cost with 10 links or
 * 10,000. A name longer than the kernel's limit names no link.
 */
export function hostLinkExists(name: string): boolean {
  try {
    return hostRtnl().findLinkIndex(name) !== undefined;
  } catch (err) {
    throw new BerthError('kernel', `cannot ask the kernel whether link ${name} exists: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
  }
}

/** Whether a network namespace is pinned as /run/netns/`name` (what listNetns lists). */
export function netnsExists(name: string): boolean {
  return existsSync(join(NETNS_DIR, name));
}

export interface HostRoute {
  readonly subnet: Ipv4Cidr;
  readonly dev: string | undefined;
  /** Scope link: the subnet is reached directly on `dev` (no gateway), so it is in use there. */
  readonly onLink: boolean;
}

/** IPv4 destinations the host routes (connected and static), to keep new subnets clear of them. */
export function hostRoutes(): HostRoute[] {
  return hostRtnl().ipv4Routes().map((r) => ({ subnet: parseCidr(r.dst), dev: r.dev, onLink: r.scopeLink }));
}

/** IPv4 addresses (CIDR form) of every host link that has one. */
export function hostAddresses(): Map<string, string[]> {
  return hostRtnl().ipv4Addresses();
}

/** The host link holding the IPv4 `address`, with its MTU; undefined when no link has it. */
export function linkOfAddress(address: string): { readonly name: string; readonly mtu: number } | undefined {
  const addresses = hostRtnl().ipv4Addresses();
  const name = [...addresses].find(([, cidrs]) => cidrs.some((cidr) => cidr.split('/')[0] === address))?.[0];
  if (name === undefined) return undefined;
  const link = hostRtnl().linkDetails().find((l) => l.name === name);
  return link ? { name, mtu: link.mtu } : undefined;
}

/** A sysctl of the namespace this process runs in, e.g. "net.ipv4.ip_forward". */
export async function readSysctl(key: string): Promise<string> {
  return (await readFile(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim();
}

/** A host link as reconcile needs it: its kind, its bridge (for a port), its parent, its alias. */
export type HostLink = Omit<LinkDetail, 'mtu'>;

/** The host's links with their details and IPv4 addresses, and their digest, read together (one dump of each). */
export function readHostState(): HostState {
  return hostRtnl().hostState();
}


/**
 * The host's rtnetlink socket for reads: dumps in-process (~0.1 ms) where an `ip -j`
 * process costs 3-10 ms. Made on first use, in the daemon's namespace (no read runs inside
 * inNetns: nothing calls these from the function it runs there).
 */
let readSocket: Rtnl | undefined;
function hostRtnl(): Rtnl {
  readSocket ??= new Rtnl();
  return readSocket;
}

/**
 * The links inside the network namespace of process `pid`, read from /proc/<pid>/net/dev
 * (no process spawned, no setns). Undefined when the process is gone.
 */
export async function linksOfProcess(pid: number): Promise<Set<string> | undefined> {
  try {
    return parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}

function parseNetDev(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .slice(2)
      .map((line) => line.split(':')[0]!.trim())
      .filter((name) => name !== ''),
  );
}

/** Whether each command succeeds and its output holds every text asked for (firewall presence checks). */
export async function outputsContain(checks: readonly { readonly command: readonly string[]; readonly mustContain: readonly string[] }[]): Promise<boolean> {
  for (const check of checks) {
    const output = await outputOf(check.command);
    if (output === undefined || !check.mustContain.every((text) => output.includes(text))) return false;
  }
  return true;
}

/** A read-only command's output, undefined when it fails; `nft` runs in-process through libnftables where it loads. */
async function outputOf(command: readonly string[]): Promise<string | undefined> {
  if (command[0] === 'nft' && libnftablesAvailable()) {
    try {
      return runNft(command.slice(1).join(' '));
    } catch {
      return undefined;
    }
  }
  const result = await runTool(command[0]!, command.slice(1)).catch(() => undefined);
  return result && result.code === 0 ? result.stdout : undefined;
}
