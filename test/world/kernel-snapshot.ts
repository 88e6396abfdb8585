import { listBerthNetns, must, run } from './world.js';

/**
 * What a host namespace and berth's sandboxes hold, as comparable text: links (kind,
 * master, MTU, up, alias, hairpin; MACs where berth sets them), addresses, routes, the
 * nftables ruleset and the sysctls berth writes. Two kernels built by different means (the
 * daemon, or a script `berth explain` printed) compare equal when they hold the same.
 * Generated names (host veths, sandbox namespaces, network ids in aliases) are masked, because a plan explained
 * and the operation done later draw different random names; what else a line holds
 * (master, MAC, address) still tells them apart.
 */
export interface KernelSnapshot {
  readonly host: NamespaceSnapshot & { readonly ruleset: string; readonly sysctls: Record<string, string> };
  readonly sandboxes: readonly NamespaceSnapshot[];
}

interface NamespaceSnapshot {
  readonly links: readonly string[];
  readonly addresses: readonly string[];
  readonly routes: readonly string[];
}

/**
 * The kernel's state once a daemon's background work is done: links it deletes in the
 * background (kernel/reaper.ts) go within tens of milliseconds of the command returning.
 * Snapshots 100 ms apart until two are equal (at most 3 s).
 */
export async function settledSnapshot(hostNetns: string): Promise<KernelSnapshot> {
  let last = await snapshotKernel(hostNetns);
  for (let i = 0; i < 30; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = await snapshotKernel(hostNetns);
    if (JSON.stringify(next) === JSON.stringify(last)) return next;
    last = next;
  }
  return last;
}

export async function snapshotKernel(hostNetns: string): Promise<KernelSnapshot> {
  const host = await namespaceSnapshot(hostNetns, { macsOf: () => false });
  const ruleset = await must('ip', ['netns', 'exec', hostNetns, 'nft', 'list', 'ruleset']);
  const bridges = host.linkNames.filter((n) => n.startsWith('br-') || n === 'berth0');
  const sysctls: Record<string, string> = {};
  for (const key of ['net/ipv4/ip_forward', ...bridges.map((b) => `net/ipv4/conf/${b}/route_localnet`)]) {
    sysctls[key] = (await must('ip', ['netns', 'exec', hostNetns, 'cat', `/proc/sys/${key}`])).trim();
  }
  const sandboxes: NamespaceSnapshot[] = [];
  for (const ns of (await listBerthNetns()).sort()) {
    const { linkNames: _names, ...inside } = await namespaceSnapshot(ns, { macsOf: (kind) => kind !== 'loopback' });
    sandboxes.push(inside);
  }
  return masked({ host: { links: host.links, addresses: host.addresses, routes: host.routes, ruleset: sortedSetElements(ruleset), sysctls }, sandboxes });
}

async function namespaceSnapshot(netns: string, opts: { macsOf: (kind: string) => boolean }): Promise<NamespaceSnapshot & { linkNames: string[] }> {
  const inNs = (...args: string[]) => must('ip', ['-n', netns, '-j', '-d', ...args]);
  const links = JSON.parse(await inNs('link', 'show')) as any[];
  const described = links
    .filter((l) => l.ifname !== 'uplink0')
    .map((l) => {
      const kind = l.linkinfo?.info_kind ?? (l.link_type === 'loopback' ? 'loopback' : 'device');
      const hairpin = l.linkinfo?.info_slave_data?.hairpin === true ? ' hairpin' : '';
      const mac = opts.macsOf(kind) ? ` mac ${l.address}` : '';
      const up = l.flags.includes('UP') ? 'up' : 'down';
      return `${l.ifname} ${kind} mtu ${l.mtu} ${up}${l.master ? ` master ${l.master}` : ''}${hairpin}${mac}${l.ifalias ? ` alias ${l.ifalias}` : ''}`;
    })
    .sort();
  const addresses = (JSON.parse(await inNs('addr', 'show')) as any[])
    .flatMap((l) => (l.addr_info as any[]).filter((a) => a.family === 'inet' && l.ifname !== 'uplink0').map((a) => `${l.ifname} ${a.local}/${a.prefixlen}`))
    .sort();
  const routes = (JSON.parse(await inNs('route', 'show')) as any[])
    .filter((r) => r.dev !== 'uplink0')
    .map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${r.dev}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`)
    .sort();
  return { links: described, addresses, routes, linkNames: links.map((l) => l.ifname as string) };
}

/** Host veth and sandbox names masked, every list sorted again. */
function masked(snapshot: KernelSnapshot): KernelSnapshot {
  const text = JSON.stringify(snapshot).replace(/\bveth[0-9a-f]{7}\b/g, 'veth*').replace(/\bberth-[0-9a-f]{12}\b/g, 'berth-*').replace(/berth-network:[0-9a-f]{64}/g, 'berth-network:*');
  const { host, sandboxes } = JSON.parse(text) as KernelSnapshot;
  const sortedNs = (n: NamespaceSnapshot): NamespaceSnapshot => ({ links: [...n.links].sort(), addresses: [...n.addresses].sort(), routes: [...n.routes].sort() });
  return {
    host: { ...host, ...sortedNs(host), ruleset: sortedSetElements(host.ruleset) },
    sandboxes: sandboxes.map(sortedNs).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  };
}

/**
 * nft lists tables in the order they were made and a set's elements in its own order (a
 * hash's): tables sorted, each `elements = { ... }` sorted on one line.
 */
function sortedSetElements(ruleset: string): string {
  const elementsSorted = ruleset.replace(/elements = \{([^}]*)\}/g, (_all, items: string) => `elements = { ${items.split(',').map((i) => i.trim()).sort().join(', ')} }`);
  return elementsSorted.split(/^(?=table )/m).sort().join('');
}

/**
 * Runs a script `berth explain` printed with `sh -e` in the host namespace; fails with its
 * output when a step fails. nsenter, not `ip netns exec`: that one runs the script in a
 * mount namespace of its own, where the namespaces the script pins would stay.
 */
export async function applyExplained(hostNetns: string, script: string): Promise<void> {
  const result = await run('nsenter', [`--net=/run/netns/${hostNetns}`, 'sh', '-e'], { input: script });
  if (result.code !== 0) throw new Error(`the explained script failed (${result.code}): ${result.stderr}\n--- script ---\n${script}`);
}
