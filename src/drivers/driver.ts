import { cidrContains, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { FirewallNetwork } from '../firewall/model.js';
import type { KernelFeatures } from '../kernel/features.js';
import type { KernelOp, Plan, RouteTarget } from '../kernel/ops.js';
import type { HostLinkPresence, KernelView } from '../kernel/view.js';
import type { RoutingState } from '../kernel/sandbox-routing.js';

/**
 * The contract between the engine and a network driver, modelled on libnetwork's driverapi
 * and netavark's NetworkDriver (docs/architecture.md says what was taken from each). A
 * driver owns everything specific to its kind of network: its options, its kernel objects,
 * its endpoints' names, how a sandbox joins, how drift is repaired, what the firewall must
 * know. It never touches the kernel: every method returns plans, which the engine applies
 * through an executor (or renders for --dry-run), so each driver is testable without root.
 */
export type DriverScope = 'local' | 'global';

export interface DriverCapabilities {
  /** local: a network exists on one host; global: on every host of a cluster (overlay, part 7). */
  readonly scope: DriverScope;
  /** Whether `-p` publishes host ports to its endpoints (the bridge's NAT); elsewhere ports are discarded with a warning. */
  readonly publishesPorts: boolean;
  /** Whether the embedded DNS resolver serves containers on its networks. */
  readonly embeddedDns: boolean;
  /** Whether its networks sit on a host link given as `-o parent=`. */
  readonly needsParent: boolean;
  /** Whether `network create -d` makes networks of it; host and null have one built-in network each. */
  readonly userCreatable: boolean;
  /** Whether its networks may have several IPv4 subnets (`--subnet` given more than once). */
  readonly multipleSubnets: boolean;
  /**
   * Whether its endpoints can carry the sandbox's way out: the default route and published
   * ports. The overlay's cannot (no gateway on this host); a container on it gets a second
   * endpoint on the gateway bridge for both, as Docker's docker_gwbridge.
   */
  readonly routesOut: boolean;
}

export type DriverAvailability = { readonly available: true } | { readonly available: false; readonly reason: string };

/** What a driver keeps in its network's record: flat JSON it wrote itself and parses back itself. */
export type DriverData = Readonly<Record<string, string | number | boolean>>;

/** A network's addresses as IPAM settled them. */
export interface NetworkAddressing {
  readonly subnet: string; // CIDR
  /** Absent: the driver routes without one (ipvlan l3). */
  readonly gateway?: string;
  readonly ipRange?: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/** What a driver is told about one of its networks. */
export interface DriverNetwork {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly internal: boolean;
  /** At least one; more only for a driver with the multipleSubnets capability. */
  readonly subnets: readonly NetworkAddressing[];
  readonly data: DriverData;
}

/** What new options are checked against. */
export interface DriverCreateContext {
  readonly id: string;
  readonly name: string;
  readonly internal: boolean;
  readonly subnets: readonly NetworkAddressing[];
  /** For a global network: the VXLAN id the cluster reserved for it, used unless its options name one. */
  readonly vni?: number;
  /** Every other network with addresses, of any driver (a parent link is one network's only). */
  readonly others: readonly DriverNetwork[];
  readonly live: HostLinkPresence;
}

/** validateOptions' answer: the typed options as data, and what the network's addresses must make room for. */
export interface DriverConfig {
  readonly data: DriverData;
  /** Addresses the driver itself uses: kept out of the pool, listed as auxiliary addresses. */
  readonly reservedAddresses?: Readonly<Record<string, string>>;
  /** The driver routes without a gateway: the network records none. */
  readonly withoutGateway?: boolean;
  /** Options the driver settled that the request left out, shown with the given ones (the overlay's VXLAN id, as Docker shows it). */
  readonly impliedOptions?: Readonly<Record<string, string>>;
}

export interface EndpointRequest {
  /** The interface name inside the sandbox: eth0, eth1, ... in attach order. */
  readonly ifname: string;
  readonly address: string;
  /** A MAC asked for (`--mac-address`). */
  readonly mac?: string;
  /** Host link names in use, so a new one never clashes. */
  readonly takenHostNames: TakenNames;
}

/** Names in use, asked one at a time (a live index, or a few sets together, never copied). */
export interface TakenNames {
  has(name: string): boolean;
}

/** The names and MAC a driver gives an endpoint (the engine does not choose them). */
export interface EndpointNames {
  readonly ifname: string;
  /** A link of the endpoint's on the host side (the bridge's veth end), if it has one. */
  readonly hostIfname?: string;
  /** Undefined: the kernel's choice (ipvlan shares the parent's MAC). */
  readonly mac?: string;
}

export interface DriverEndpoint extends EndpointNames {
  readonly id: string;
  readonly address: string;
  readonly prefixLength: number;
}

/** What joining tells the engine beyond the plan, as libnetwork's JoinInfo. */
export interface JoinInfo {
  /** Where the sandbox's default route goes when this endpoint carries it; undefined: no default gateway. */
  readonly defaultRoute?: RouteTarget;
}

export interface JoinResult {
  readonly plan: Plan;
  readonly info: JoinInfo;
}

/** An endpoint of a global network on another host, as the cluster store shows it. */
export interface RemoteEndpoint {
  readonly address: string;
  readonly mac: string;
  /** Its host's VTEP (the host's --cluster-advertise address). */
  readonly vtep: string;
}

/** One endpoint on a network as repair sees it. */
export interface RecordedEndpoint {
  readonly netns: string;
  readonly endpoint: DriverEndpoint;
  /** Its container runs: the endpoint must exist. Otherwise it must only not be deleted. */
  readonly running: boolean;
  /** It carries the sandbox's default route. */
  readonly gatewayEndpoint: boolean;
  /** It carries published ports (external connectivity). */
  readonly carriesPorts: boolean;
}

export interface NetworkDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  /** Whether this kernel has what the driver needs; asked once at daemon start. */
  probe(features: KernelFeatures): DriverAvailability;
  /**
   * `-o` options (and the parts of the request they depend on) to driver data, or an
   * InvalidArgumentError naming the option and listing the accepted ones.
   */
  validateOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): DriverConfig;
  /** Creates the network's objects on this host. */
  createNetwork(network: DriverNetwork): Plan;
  /** Removes them; only what `live` still holds, so a repeated or late delete succeeds. */
  deleteNetwork(network: DriverNetwork, live: HostLinkPresence): Plan;
  /** Names an endpoint; may throw InvalidArgumentError for a request the driver cannot honour. */
  createEndpoint(network: DriverNetwork, request: EndpointRequest): EndpointNames;
  /** Attaches the sandbox `netns` through `endpoint` (the default route is the engine's, from the info). */
  join(network: DriverNetwork, netns: string, endpoint: DriverEndpoint): JoinResult;
  /**
   * Detaches it. `sandboxGoing`: the namespace is about to be deleted, which takes every
   * link inside it: only what would outlive it is planned.
   */
  leave(network: DriverNetwork, netns: string, endpoint: DriverEndpoint, opts: { readonly sandboxGoing: boolean }): Plan;
  /**
   * The plan that makes the kernel match the network and its recorded endpoints again,
   * given what `live` shows: missing objects re-created, detached ones re-attached,
   * strays of its own removed. Empty when nothing drifted.
   */
  repair(network: DriverNetwork, endpoints: readonly RecordedEndpoint[], live: KernelView): Plan;
  /**
   * Sandboxes another runtime owns (dockerd, with berth as its network plugin): the
   * endpoint's sandbox-side link is made in the host namespace as `endpoint.ifname`, down
   * and without an address, for that runtime to move into its sandbox, rename and address.
   * The info says where the sandbox's default route goes. Absent: the driver cannot serve them.
   */
  joinExternal?(network: DriverNetwork, endpoint: DriverEndpoint): JoinResult;
  /** Removes what joinExternal made, as far as `live` still shows it in the host namespace. */
  removeExternal?(network: DriverNetwork, endpoint: DriverEndpoint, live: HostLinkPresence): Plan;
  /** Its contribution to the firewall's desired state (NAT, isolation); none: the firewall leaves it alone. */
  firewall?(network: DriverNetwork): FirewallNetwork;
  /** What an endpoint needs to carry published ports (the bridge: hairpin on its port). */
  externalConnectivity?(network: DriverNetwork, endpoint: DriverEndpoint): Plan;
  /**
   * Global drivers: the plan that takes this host's forwarding to the network's endpoints on
   * other hosts from `before` to `after`, both as the cluster store showed them. The engine
   * watches the store and calls it (in its operation queue) on every change, and with
   * `before` empty after a restart or a repair; the plan must be idempotent for that.
   */
  peersChanged?(network: DriverNetwork, before: readonly RemoteEndpoint[], after: readonly RemoteEndpoint[]): Plan;
  /** Where its endpoints' packets go on this host: what `berth trace` follows. Absent: a path it does not model. */
  pathOf?(network: DriverNetwork): EndpointPath;
}

/**
 * The way out of an endpoint, for `berth trace`:
 *  - bridge: a veth onto a Linux bridge on the host (the bridge driver);
 *  - overlay: the same, the bridge also holding a VXLAN link to the other hosts;
 *  - lan: a macvlan or ipvlan link on a parent, the container one more host of the parent's
 *    LAN; the kernel keeps such children from their parent's own addresses, unless the host
 *    has a link of its own on the parent (`hostLink`, berth.host_access). Children of one
 *    parent reach each other inside it only where `siblingsMeet` (macvlan's bridge mode,
 *    ipvlan's bridge flag in any mode).
 */
export type EndpointPath =
  | { readonly kind: 'bridge'; readonly bridge: string }
  | { readonly kind: 'overlay'; readonly bridge: string; readonly vxlan: string; readonly vni: number }
  | { readonly kind: 'lan'; readonly parent: string; readonly mode: string; readonly siblingsMeet: boolean; readonly hostLink?: string };

/** The alias berth gives every host link it creates for a network: reconcile removes those no network record owns. */
export const OWNER_ALIAS_PREFIX = 'berth-network:';

export function ownerAlias(networkId: string): string {
  return `${OWNER_ALIAS_PREFIX}${networkId}`;
}

/** The subnet of `network` an address is in (its endpoints' addresses always are in one). */
export function subnetHolding(subnets: readonly NetworkAddressing[], address: string): NetworkAddressing {
  const ip = parseIpv4(address);
  const found = subnets.find((s) => cidrContains(parseCidr(s.subnet), ip));
  if (!found) throw new Error(`address ${address} is in none of the subnets ${subnets.map((s) => s.subnet).join(', ')}`);
  return found;
}

/** Docker's MAC for an IPv4 endpoint: 02:42 followed by the four address bytes. */
export function macForAddress(address: string): string {
  return macText([0x02, 0x42, ...address.split('.').map(Number)]);
}

/** Six bytes as a MAC's text: two lower-case hex digits each, colon-separated. */
export function macText(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * What of a join's plan inside the sandbox is missing from the sandbox's live routing
 * state, for an endpoint whose link is still there (a missing link is the driver's
 * `repair`): its addresses, its up state and the default route it carries. A default
 * route someone replaced with another is theirs and left alone; only a missing one is
 * put back.
 */
export function sandboxRepairOps(netns: string, plan: Plan, live: RoutingState): KernelOp[] {
  return plan.filter((op) => {
    if (op.kind === 'addr-add' && op.netns === netns) return live.links.has(op.dev) && !live.links.get(op.dev)!.addresses.includes(op.cidr);
    if (op.kind === 'link-up' && op.netns === netns) return live.links.get(op.dev)?.up === false;
    if (op.kind === 'route-add' && op.netns === netns && op.dst === 'default') return live.defaultRoute === undefined;
    return false;
  });
}

/**
 * A join's plan with the default route it implies when the endpoint carries it, and each
 * interface it brings up in the sandbox without an IPv6 address of its own: berth's
 * networks are IPv4-only, and an interface with a link-local address sends DAD, router
 * solicitations and MLD reports when it comes up, which a bridge floods to every port:
 * work for every container on the network at each start (attach grew 3x from 1 to 500
 * containers on one bridge; docs/benchmarks.md). Docker 26 writes disable_ipv6 instead;
 * that sysctl is the namespace's first /proc/sys/net lookup, whose cost grows with the
 * number of namespaces (0.04 ms with none, 0.34 ms with 1,000 here), where `addrgenmode
 * none` is one rtnetlink request. IPv6 stays usable by hand, as on Docker 20.10.
 */
export function joinPlan(netns: string, joined: JoinResult, gatewayEndpoint: boolean): KernelOp[] {
  const ops = joined.plan.flatMap((op): KernelOp[] =>
    op.kind === 'link-up' && op.netns === netns && op.dev !== 'lo' ? [{ kind: 'link-no-ipv6-address', netns, dev: op.dev }, op] : [op],
  );
  const route = gatewayEndpoint ? joined.info.defaultRoute : undefined;
  return route ? [...ops, { kind: 'route-add', netns, dst: 'default', ...route }] : ops;
}
