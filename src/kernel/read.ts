import { readdir, readFile } from 'node:fs/promises';
import { KernelError } from '../common/errors.js';
import { parseCidr, type Ipv4Cidr } from '../common/ipv4.js';
import { runTool } from './spawn.js';

/**
 * Readers of live kernel state, for reconcile and for choosing free subnets. Everything
 * parsed from `ip -j` is validated here, at the edge.
 */

export const NETNS_DIR = '/run/netns';

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
 * right inside test sandboxes too, and costs no process.
 */
export async function hostLinkNames(): Promise<Set<string>> {
  return parseNetDev(await readFile('/proc/self/net/dev', 'utf8'));
}

async function ipJson(args: string[]): Promise<unknown[]> {
  const result = await runTool('ip', ['-j', ...args]);
  if (result.code !== 0) {
    throw new KernelError(`reading kernel state failed: ip -j ${args.join(' ')}: ${result.stderr.trim()}`, `ip -j ${args.join(' ')}`, result.stderr);
  }
  const parsed: unknown = JSON.parse(result.stdout.trim() === '' ? '[]' : result.stdout);
  if (!Array.isArray(parsed)) throw new KernelError(`unexpected output of ip -j ${args.join(' ')}`, `ip -j ${args.join(' ')}`, result.stdout);
  return parsed as unknown[];
}

function stringField(entry: unknown, field: string): string | undefined {
  if (typeof entry !== 'object' || entry === null) return undefined;
  const value = (entry as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}

export interface HostRoute {
  readonly subnet: Ipv4Cidr;
  readonly dev: string | undefined;
  /** Scope link: the subnet is reached directly on `dev` (no gateway), so it is in use there. */
  readonly onLink: boolean;
}

/** IPv4 destinations the host routes (connected and static), to keep new subnets clear of them. */
export async function hostRoutes(): Promise<HostRoute[]> {
  const routes = await ipJson(['-4', 'route', 'show', 'table', 'all']);
  const out: HostRoute[] = [];
  for (const route of routes) {
    const dst = stringField(route, 'dst');
    const type = stringField(route, 'type');
    if (!dst || dst === 'default' || type === 'local' || type === 'broadcast') continue;
    out.push({ subnet: parseCidr(dst.includes('/') ? dst : `${dst}/32`), dev: stringField(route, 'dev'), onLink: stringField(route, 'scope') === 'link' });
  }
  return out;
}

/** IPv4 addresses (CIDR form) of every host link that has one (one `ip -j -4 addr show`). */
export async function hostAddresses(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const link of await ipJson(['-4', 'addr', 'show'])) {
    const name = stringField(link, 'ifname');
    const infos = (link as { addr_info?: unknown }).addr_info;
    if (name === undefined || !Array.isArray(infos)) continue;
    out.set(
      name,
      infos.flatMap((info: unknown) => {
        const local = stringField(info, 'local');
        const prefix = (info as { prefixlen?: unknown }).prefixlen;
        return local && typeof prefix === 'number' ? [`${local}/${prefix}`] : [];
      }),
    );
  }
  return out;
}

/** The host link holding the IPv4 `address`, with its MTU (one `ip -j -4 addr show`); undefined when no link has it. */
export async function linkOfAddress(address: string): Promise<{ readonly name: string; readonly mtu: number } | undefined> {
  for (const link of await ipJson(['-4', 'addr', 'show'])) {
    const name = stringField(link, 'ifname');
    const mtu = (link as { mtu?: unknown }).mtu;
    const infos = (link as { addr_info?: unknown }).addr_info;
    if (name === undefined || typeof mtu !== 'number' || !Array.isArray(infos)) continue;
    if (infos.some((info: unknown) => stringField(info, 'local') === address)) return { name, mtu };
  }
  return undefined;
}

/** A sysctl of the namespace this process runs in, e.g. "net.ipv4.ip_forward". */
export async function readSysctl(key: string): Promise<string> {
  return (await readFile(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim();
}

/** A host link as reconcile needs it: its kind, its bridge (for a port), its parent, its alias. */
export interface HostLink {
  readonly name: string;
  /** "bridge", "veth", ... ("" when the kernel reports none). */
  readonly kind: string;
  readonly master: string | undefined;
  /** The link it is stacked on (a VLAN's or macvlan's parent; a veth's peer), when in this namespace. */
  readonly parent: string | undefined;
  readonly alias: string | undefined;
  readonly up: boolean;
}

/** Every link of the host namespace with its kind, master and alias (one `ip -j -d link show`). */
export async function hostLinks(): Promise<HostLink[]> {
  const links = await ipJson(['-d', 'link', 'show']);
  return links.flatMap((l): HostLink[] => {
    const name = stringField(l, 'ifname');
    if (name === undefined) return [];
    const linkinfo = (l as { linkinfo?: unknown }).linkinfo;
    const flags = (l as { flags?: unknown }).flags;
    return [
      {
        name,
        kind: stringField(linkinfo, 'info_kind') ?? '',
        master: stringField(l, 'master'),
        parent: stringField(l, 'link'),
        alias: stringField(l, 'ifalias'),
        up: Array.isArray(flags) && flags.includes('UP'),
      },
    ];
  });
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
    const result = await runTool(check.command[0]!, check.command.slice(1)).catch(() => undefined);
    if (!result || result.code !== 0 || !check.mustContain.every((text) => result.stdout.includes(text))) return false;
  }
  return true;
}
