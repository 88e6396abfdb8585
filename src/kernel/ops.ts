import type { NftChainChange } from './nft-commands.js';
/**
 * The vocabulary of kernel operations. Drivers and the engine never run commands: they
 * return a Plan (a list of these), which an executor applies (kernel/exec.ts) or renders
 * as the shell commands a person would type (kernel/render.ts). Every op that creates
 * something has an inverse, so a failed plan can be undone step by step: `ip -batch`
 * is not a transaction.
 *
 * `netns` undefined means the namespace the daemon runs in ("the host").
 */
export type KernelOp =
  | NetnsAdd
  | NetnsAttach
  | NetnsDel
  | BridgeAdd
  | VethAdd
  | MacvlanAdd
  | IpvlanAdd
  | VlanAdd
  | DummyAdd
  | VxlanAdd
  | FdbReplace
  | FdbDel
  | PortFdbStatic
  | NeighReplace
  | NeighDel
  | LinkUp
  | LinkNoIpv6Address
  | LinkDown
  | LinkAlias
  | PortAttach
  | PortHairpin
  | LinkDel
  | LinkRename
  | AddrAdd
  | AddrDel
  | RouteAdd
  | RouteDel
  | Sysctl
  | NftApply
  | IptablesApply
  | IptablesRemove;

/**
 * = ip netns add NAME. The netlink executor's namespaces come from its pool with the
 * loopback already up (kernel/netlink/netns-pool.ts): a sandbox plan brings lo up next anyway.
 */
export interface NetnsAdd { readonly kind: 'netns-add'; readonly name: string }
/** Pins the namespace of a running process under /run/netns again (reconcile after someone deleted the name). */
export interface NetnsAttach { readonly kind: 'netns-attach'; readonly name: string; readonly pid: number }
/** `takes`: host links that go with the namespace (its interfaces' veth peers), which the kernel deletes a while after, by itself. */
export interface NetnsDel { readonly kind: 'netns-del'; readonly name: string; readonly takes?: readonly string[] }
/**
 * A bridge without multicast snooping: with it, every port added makes the kernel walk all
 * the bridge's ports and re-arm each one's multicast timers (br_port_state_selection), so a
 * veth's attach grew with the bridge (0.77 ms beside 50 ports, 1.25 ms beside 1,000);
 * without it, multicast is flooded to every port, as it is anyway on a container bridge,
 * where no querier keeps the snooped groups alive. A network's bridge gets its MAC at
 * creation (drivers/bridge-mac.ts says why). With a MAC set, the kernel turns the carrier of
 * a bridge without ports off (as docker0's reads DOWN with no container), so a bridge that
 * never has ports and must carry (a macvlan network's isolated parent) is made without one.
 */
export interface BridgeAdd { readonly kind: 'bridge-add'; readonly name: string; readonly mac?: string; readonly mtu?: number }
/**
 * A veth pair whose peer is born inside `peerNetns` with its final name and MAC: moving a
 * link between namespaces costs 19-25 ms in the kernel, creating it in place ~0.5 ms.
 * Without `peerNetns` the peer stays in the host namespace, down, for another runtime to
 * move into a sandbox it owns (dockerd, when berth is its network plugin).
 */
export interface VethAdd {
  readonly kind: 'veth-add';
  readonly hostName: string;
  readonly master: string;
  readonly peerName: string;
  readonly peerMac: string;
  readonly peerNetns?: string;
  readonly mtu?: number;
}
/**
 * The transmit and receive queues each end of a veth pair is made with. Left to the kernel,
 * a veth gets one queue per possible CPU and is then cut to one real queue inside the
 * creating request, and that cut waits for an RCU grace period (synchronize_net) while
 * holding the RTNL lock: 0.1-0.2 ms a pair on this 2-core VM with the other CPU busy, and
 * as long as the hypervisor takes to run a preempted vCPU in a slow spell. Asked for at
 * creation, one queue is what the pair ends with either way, without the wait.
 */
export const VETH_QUEUES = 1;
export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export type MacvlanMode = (typeof MACVLAN_MODES)[number];
export const IPVLAN_MODES = ['l2', 'l3', 'l3s'] as const;
export type IpvlanMode = (typeof IPVLAN_MODES)[number];
export const IPVLAN_FLAGS = ['bridge', 'private', 'vepa'] as const;
export type IpvlanFlag = (typeof IPVLAN_FLAGS)[number];

/**
 * A macvlan link on host link `parent`, born inside `netns` (when given) with its final
 * name and MAC: the parent is looked up in the host namespace, the new link lives in the
 * sandbox from its first moment, as a veth peer does.
 */
export interface MacvlanAdd {
  readonly kind: 'macvlan-add';
  readonly name: string;
  readonly parent: string;
  readonly mode: MacvlanMode;
  readonly netns?: string;
  readonly mac?: string;
  readonly mtu?: number;
}
/** An ipvlan link on `parent`, born inside `netns` when given. Its MAC is the parent's: ipvlan shares it. */
export interface IpvlanAdd {
  readonly kind: 'ipvlan-add';
  readonly name: string;
  readonly parent: string;
  readonly mode: IpvlanMode;
  readonly flag: IpvlanFlag;
  readonly netns?: string;
}
/** An 802.1q sub-interface `name` of `parent` tagging with `vlanId` (e.g. eth0.10). */
export interface VlanAdd { readonly kind: 'vlan-add'; readonly name: string; readonly parent: string; readonly vlanId: number }
/** A dummy link: a parent with no wire, for networks that must have no way out. */
export interface DummyAdd { readonly kind: 'dummy-add'; readonly name: string }
/**
 * A VXLAN link (overlay networks): VNI `vni`, sending from `local` to UDP `dstport`,
 * learning off (peers come from static FDB entries, not from flooded traffic) and ARP
 * proxy on (neighbour entries on the link answer containers' ARP locally).
 */
export interface VxlanAdd {
  readonly kind: 'vxlan-add';
  readonly name: string;
  readonly vni: number;
  readonly local: string;
  readonly dstport: number;
  readonly mtu?: number;
}
/** A static forwarding entry on a VXLAN link: frames for `mac` go to the VTEP `dst` (replacing any other, so applying it twice is harmless). */
export interface FdbReplace { readonly kind: 'fdb-replace'; readonly dev: string; readonly mac: string; readonly dst: string }
/**
 * A static entry in a bridge's own forwarding table: frames for `mac` leave by port `dev`,
 * whatever the bridge learned before (it goes with the port).
 */
export interface PortFdbStatic { readonly kind: 'port-fdb-static'; readonly dev: string; readonly mac: string }
export interface FdbDel { readonly kind: 'fdb-del'; readonly dev: string; readonly mac: string; readonly dst: string }
/** A permanent neighbour entry: `address` is at `mac` on `dev` (answered by the VXLAN link's ARP proxy). */
export interface NeighReplace { readonly kind: 'neigh-replace'; readonly dev: string; readonly address: string; readonly mac: string }
export interface NeighDel { readonly kind: 'neigh-del'; readonly dev: string; readonly address: string }
export interface LinkUp { readonly kind: 'link-up'; readonly netns?: string; readonly dev: string }
/**
 * The link makes no IPv6 address of its own (`addrgenmode none`: no link-local, so none of
 * the autoconfiguration messages that come with one). Set before the link first gets a
 * carrier; it goes with the link.
 */
export interface LinkNoIpv6Address { readonly kind: 'link-no-ipv6-address'; readonly netns?: string; readonly dev: string }
/** Takes a link down: a macvlan link leaves its parent's address table at once (deleting it costs an RCU grace period). */
export interface LinkDown { readonly kind: 'link-down'; readonly netns?: string; readonly dev: string }
/**
 * A host link's alias (IFLA_IFALIAS). berth marks the bridges it creates with the owning
 * network's id, so reconcile can tell its leftovers from another tool's bridges (Docker's
 * are also named br-<12 hex>).
 */
export interface LinkAlias { readonly kind: 'link-alias'; readonly dev: string; readonly alias: string }
/** Enslaves an existing host link to a bridge again (its bridge was deleted and re-created under it). */
export interface PortAttach { readonly kind: 'port-attach'; readonly dev: string; readonly master: string }
/** Lets a bridge send a frame back out of the port it came in by (a container reaching its own published port). */
export interface PortHairpin { readonly kind: 'port-hairpin'; readonly dev: string }
/**
 * Deletes a link (a veth's peer goes with it). `background` (host links only): the link is
 * taken down now and deleted by the reaper (kernel/reaper.ts), so the caller does not wait
 * for the kernel's RCU grace periods: at once ('now': an overlay endpoint's veth, whose
 * static FDB entry holds its MAC until it goes), or once berth's plans pause ('when-idle': a
 * bridge, or a veth whose container end is down, renamed and without its address).
 */
export interface LinkDel { readonly kind: 'link-del'; readonly netns?: string; readonly dev: string; readonly background?: 'now' | 'when-idle' }
/** Renames a link (it must be down): a link on its way out frees its name at once. */
export interface LinkRename { readonly kind: 'link-rename'; readonly netns?: string; readonly dev: string; readonly name: string }
export interface AddrAdd { readonly kind: 'addr-add'; readonly netns?: string; readonly dev: string; readonly cidr: string }
export interface AddrDel { readonly kind: 'addr-del'; readonly netns?: string; readonly dev: string; readonly cidr: string }
/** A route to `dst` ("default" or a CIDR) through a gateway, or straight out of a device (on-link), or both. */
export type RouteTarget = { readonly via: string; readonly dev?: string } | { readonly via?: undefined; readonly dev: string };
/** `replace`: the route may exist already (then it is overwritten), as `ip route replace`. */
export type RouteAdd = { readonly kind: 'route-add'; readonly netns?: string; readonly dst: string; readonly replace?: boolean } & RouteTarget;
export type RouteDel = { readonly kind: 'route-del'; readonly netns?: string; readonly dst: string } & RouteTarget;
/** A sysctl of the host namespace, or of `netns`. `restore` is the value to put back on rollback, if any. */
export interface Sysctl { readonly kind: 'sysctl'; readonly netns?: string; readonly key: string; readonly value: string; readonly restore?: string }
/**
 * One atomic `nft -f` transaction. `undoScript` is what restores the previous state; the
 * firewall layer computes both from the old and the new desired model.
 */
export interface NftApply {
  readonly kind: 'nft-apply';
  readonly netns?: string;
  readonly description: string;
  readonly script: string;
  readonly undoScript?: string;
  /**
   * The same change as `script` when that only adds and removes set elements (after
   * declaring the table and sets, which makes it apply either way): an executor may send
   * these itself as one nf_tables transaction, without libnftables reading the ruleset
   * first (its cost grows with the ruleset), and run `script` when a set is missing.
   */
  readonly elements?: NftElementChange;
  /**
   * The same change as `script` when that adds and deletes chains, rules and verdict-map
   * elements in a table whose sets, maps and base chains the script also declares: an
   * executor may send these commands itself as one nf_tables transaction, and run `script`
   * when an object they name is missing.
   */
  readonly chains?: NftChainChange;
}

/** Set elements added and removed in one table, in one transaction. */
export interface NftElementChange {
  readonly family: 'bridge';
  readonly table: string;
  readonly sets: readonly NftSetChange[];
}

export interface NftSetChange {
  readonly set: string;
  readonly add: readonly NftKey[];
  /** Removed elements (one missing already is no error: the script adds each before deleting it). */
  readonly remove: readonly NftKey[];
}

/** An element's key: one field per component of the set's type (`ifname . ether_addr . ipv4_addr`). */
export type NftKey = readonly NftKeyField[];
export type NftKeyField =
  | { readonly type: 'ifname'; readonly value: string }
  | { readonly type: 'ether_addr'; readonly value: string }
  | { readonly type: 'ipv4_addr'; readonly value: string };

/**
 * One `iptables-restore --noflush` of berth's chains. Chains berth creates once and never
 * flushes (the user's extension point) and the jumps from built-in chains into berth's are
 * ensured around it: created or inserted at the top only when missing.
 */
export interface IptablesApply {
  readonly kind: 'iptables-apply';
  readonly description: string;
  readonly script: string;
  readonly undoScript?: string;
  readonly ensureChains: readonly { readonly table: string; readonly chain: string; readonly rules: readonly string[] }[];
  readonly ensureJumps: readonly { readonly table: string; readonly chain: string; readonly rule: string }[];
}

/**
 * Removes a backend's iptables chains and the jumps into them; whatever is already absent
 * is skipped, so it is safe to run on every daemon start (switching --firewall).
 */
export interface IptablesRemove {
  readonly kind: 'iptables-remove';
  readonly description: string;
  readonly jumps: readonly { readonly table: string; readonly chain: string; readonly rule: string }[];
  readonly chains: readonly { readonly table: string; readonly chain: string }[];
}

export type Plan = readonly KernelOp[];

/** The op that undoes `op`, or undefined when nothing needs undoing (or nothing can be). */
export function inverseOf(op: KernelOp): KernelOp | undefined {
  switch (op.kind) {
    case 'netns-add':
    case 'netns-attach':
      return { kind: 'netns-del', name: op.name };
    case 'bridge-add':
      return { kind: 'link-del', dev: op.name };
    case 'veth-add':
      return { kind: 'link-del', dev: op.hostName };
    case 'macvlan-add':
    case 'ipvlan-add':
      return { kind: 'link-del', netns: op.netns, dev: op.name };
    case 'vlan-add':
    case 'dummy-add':
    case 'vxlan-add':
      return { kind: 'link-del', dev: op.name };
    case 'fdb-replace':
      return { kind: 'fdb-del', dev: op.dev, mac: op.mac, dst: op.dst };
    // A replaced entry's previous value is not known: undoing removes it.
    case 'neigh-replace':
      return { kind: 'neigh-del', dev: op.dev, address: op.address };
    case 'fdb-del':
    case 'neigh-del':
      return undefined;
    case 'addr-add':
      return { kind: 'addr-del', netns: op.netns, dev: op.dev, cidr: op.cidr };
    // An address taken off a link that stays (a container's end on its way out) comes back.
    case 'addr-del':
      return { kind: 'addr-add', netns: op.netns, dev: op.dev, cidr: op.cidr };
    case 'route-add': {
      const where = { kind: 'route-del', netns: op.netns, dst: op.dst } as const;
      if (op.via === undefined) return { ...where, dev: op.dev };
      return op.dev === undefined ? { ...where, via: op.via } : { ...where, via: op.via, dev: op.dev };
    }
    // A route a transaction removed (a default route moving to another interface) comes back.
    case 'route-del':
      return { ...op, kind: 'route-add' };
    case 'link-down':
      return { kind: 'link-up', netns: op.netns, dev: op.dev };
    case 'link-rename':
      return { kind: 'link-rename', netns: op.netns, dev: op.name, name: op.dev };
    case 'sysctl':
      return op.restore === undefined ? undefined : { kind: 'sysctl', ...(op.netns === undefined ? {} : { netns: op.netns }), key: op.key, value: op.restore };
    case 'nft-apply':
      return op.undoScript === undefined
        ? undefined
        : { kind: 'nft-apply', netns: op.netns, description: `undo: ${op.description}`, script: op.undoScript };
    case 'iptables-apply':
      return op.undoScript === undefined ? undefined : { ...op, description: `undo: ${op.description}`, script: op.undoScript, undoScript: undefined };
    // Leftovers of a backend no longer in use are not brought back.
    case 'iptables-remove':
      return undefined;
    // Bringing a link up is undone by deleting the link (an earlier op's inverse);
    // deletions are not undone: plans delete only what a teardown means to remove.
    case 'link-up':
    case 'link-no-ipv6-address':
    case 'port-fdb-static':
    case 'link-alias':
    case 'port-attach':
    case 'port-hairpin':
    case 'netns-del':
    case 'link-del':
      return undefined;
  }
}

/** The plan that undoes `plan`: inverses in reverse order. */
export function inversePlan(plan: Plan): Plan {
  const undo: KernelOp[] = [];
  for (let i = plan.length - 1; i >= 0; i--) {
    const inv = inverseOf(plan[i]!);
    if (inv) undo.push(inv);
  }
  return undo;
}

/** Whether links exist, by name. A set of names answers it, and so do a KernelView's links. */
export interface LinkPresence {
  has(name: string): boolean;
}

/**
 * A deletion plan without the deletions of host links that are already gone, so deleting
 * something twice (or after someone deleted it by hand) succeeds.
 */
export function withoutAbsentLinks(plan: Plan, liveHostLinks: LinkPresence): Plan {
  return plan.filter((op) => op.kind !== 'link-del' || op.netns !== undefined || liveHostLinks.has(op.dev));
}
