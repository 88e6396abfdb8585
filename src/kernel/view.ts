import type { LinkPresence } from './ops.js';
import { hostLinkExists, linksOfProcess, readHostState, type HostLink } from './read.js';
import type { HostState } from './netlink/rtnl.js';
import { departingLinks, isLeaving, pendingReaps } from './reaper.js';

/**
 * A snapshot of the live kernel state drivers compare their networks against: the host's
 * links with their kind, master, parent and alias, the host's IPv4 addresses, and the
 * links inside each running sandbox. Read once per reconcile (two rtnetlink dumps and
 * one /proc read per sandbox), then handed to every driver's pure `repair`.
 */
export interface KernelView {
  readonly links: ReadonlyMap<string, HostLink>;
  /** IPv4 addresses (CIDR) per host link. */
  readonly addresses: ReadonlyMap<string, readonly string[]>;
  /** Link names inside each sandbox namespace, by namespace name; absent when unknown. */
  readonly sandboxLinks: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * Reads the view; `sandboxes` names each namespace with a process that lives in it. `host`:
 * the host's state already read for something else (a drift check's digest).
 */
export async function readKernelView(sandboxes: readonly { readonly netns: string; readonly pid: number }[] = [], host?: HostState): Promise<KernelView> {
  const { links, addresses } = host ?? readHostState();
  // Links on their way out (kernel/reaper.ts: reaped, or going with their namespace) are gone as far as any plan is concerned.
  const reaping = new Set([...pendingReaps(), ...departingLinks(new Set(links.map((l) => l.name)))]);
  const sandboxLinks = new Map<string, ReadonlySet<string>>();
  for (const s of sandboxes) {
    const inside = await linksOfProcess(s.pid);
    if (inside) sandboxLinks.set(s.netns, new Set([...inside].filter((name) => !isLeaving(name))));
  }
  return { links: new Map(links.filter((l) => !reaping.has(l.name) && !isLeaving(l.name)).map((l) => [l.name, l])), addresses, sandboxLinks };
}

/**
 * What validating a new network's options and planning a deletion read of the host: only
 * whether links exist. A KernelView is one; hostLinkPresence asks the kernel name by name.
 */
export interface HostLinkPresence {
  readonly links: LinkPresence;
}

/**
 * The host's links as the kernel answers for each name when asked (kind, master, alias and
 * addresses unknown): what network create, rm and disconnect plan with, at a cost that does
 * not grow with the host's links (a whole list of names costs 2.5 ms at 2,000 links). Reconcile reads the whole view.
 */
export function hostLinkPresence(): HostLinkPresence {
  return { links: { has: hostLinkExists } };
}

/** A view of a host with only the given links (and nothing inside any sandbox): for planning and tests. */
export function viewOf(links: readonly Partial<HostLink>[] = [], addresses: Readonly<Record<string, readonly string[]>> = {}, sandboxLinks: Readonly<Record<string, readonly string[]>> = {}): KernelView {
  return {
    links: new Map(links.map((l) => [l.name ?? '', { name: l.name ?? '', kind: l.kind ?? '', master: l.master, parent: l.parent, alias: l.alias, up: l.up ?? true }])),
    addresses: new Map(Object.entries(addresses)),
    sandboxLinks: new Map(Object.entries(sandboxLinks).map(([k, v]) => [k, new Set(v)])),
  };
}
