import { filterAt, natAt, type FilterOutcome, type Hook, type NftRule, type NftRuleset, type TracedPacket } from '../../firewall/nft-eval.js';
import type { EndpointPath } from '../../drivers/driver.js';
import type { Protocol, RouteAnswer } from '../../kernel/path-probe.js';

/**
 * The model of `berth trace`: where a connection's first packet goes, computed without
 * sending anything. Routing comes from the kernel (`ip route get` in each namespace, which
 * sends nothing), the firewall from the ruleset as the kernel holds it, whichever backend
 * wrote it (each hook's chains evaluated rule by rule, so a rule someone deleted is missed
 * as the kernel would miss it), who holds an address on a bridge from berth's records,
 * and listeners from /proc. It follows the paths berth builds, as each driver describes
 * them (EndpointPath): container to container over one bridge, through the host (routing,
 * isolation, NAT, published ports), to the host itself and out of the uplink; on a
 * macvlan or ipvlan LAN; through an overlay's VXLAN tunnel to another host.
 */

export type Verdict = 'delivered' | 'dropped' | 'no-route' | 'no-listener';

export interface TraceHop {
  /** Where the step happens: a container, "host", or a netfilter chain. */
  readonly at: string;
  readonly what: string;
  readonly rule?: TraceRule;
  /** The network and container the step is on, when it is on one (what the topology page highlights). */
  readonly network?: string;
  readonly container?: string;
}

export interface TraceRule {
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  readonly text: string;
  readonly why: string;
}

export interface TraceResult {
  readonly verdict: Verdict;
  readonly method: 'model' | 'probe';
  readonly hops: readonly TraceHop[];
  /** What the method could not see or judge (a rule it did not understand, a listener beyond the host). */
  readonly notes: readonly string[];
  /**
   * The model only: the machine beyond this host the packet was handed to (the uplink's
   * router, a host of a LAN, another berth host of an overlay for a port there). "delivered"
   * then means it left this host on the right way; what that machine does with it is not
   * this daemon's to see (a real packet is: --probe).
   */
  readonly beyondHost?: string;
}

/** Where a packet starts: a namespace of berth's (a container), the host's, or a host beyond the uplink. */
export type PathSource =
  | { readonly kind: 'sandbox'; readonly label: string; readonly netns: string; readonly pid: number }
  | { readonly kind: 'host'; readonly label: string }
  | { readonly kind: 'outside'; readonly label: string; readonly address: string };

/** Where it is sent: an address (the destination's, as the source would name it) and, for tcp/udp, a port. */
export interface PathTarget {
  readonly label: string;
  readonly address: string;
  readonly proto: Protocol;
  readonly port?: number;
}

/** A running container's endpoint, with the way out its driver describes. */
export interface TracedEndpoint {
  readonly container: string;
  readonly pid: number;
  readonly ifname: string;
  readonly hostIfname?: string;
  readonly network: string;
  readonly address: string;
  readonly path?: EndpointPath;
}

/** Another host's container on an overlay network, as the cluster store shows it. */
export interface RemotePeer {
  readonly container: string;
  readonly vtep: string;
}

/** The live facts the model reads; the tracer wires them to the kernel and the records. */
export interface PathFacts {
  routeGet(netns: string | undefined, address: string): Promise<RouteAnswer>;
  listens(pid: number | 'self', proto: 'tcp' | 'udp', address: string, port: number): Promise<boolean>;
  /** The host's netfilter ruleset as the kernel holds it now (berth's table, or iptables-nft's tables). */
  ruleset(): Promise<NftRuleset>;
  /** The host's own IPv4 addresses. */
  hostAddresses(): Promise<ReadonlySet<string>>;
  /** The network a berth bridge (or an overlay's bridge) belongs to, if it is one. */
  networkOfBridge(bridge: string): string | undefined;
  /** The running containers' endpoints. */
  endpoints(): readonly TracedEndpoint[];
  /** A container's endpoint by its interface name inside its namespace. */
  endpointOf(netns: string, ifname: string): TracedEndpoint | undefined;
  /** Who holds `address` on another host of the overlay `network`. */
  remotePeer(network: string, address: string): RemotePeer | undefined;
  /** The sentence saying why berth wrote the rule. */
  reasonFor(rule: NftRule): string;
}

interface Walk {
  readonly hops: TraceHop[];
  readonly notes: string[];
  readonly notUnderstood: NftRule[];
  beyondHost?: string;
}

export async function modelPath(source: PathSource, target: PathTarget, facts: PathFacts): Promise<TraceResult> {
  const walk: Walk = { hops: [], notes: [], notUnderstood: [] };
  // Read at once, while the source's route is looked up (each is one process).
  void facts.ruleset().catch(() => undefined);
  void facts.hostAddresses().catch(() => undefined);
  const verdict = await fromSource(source, target, facts, walk);
  const notes = [...walk.notes, ...[...new Set(walk.notUnderstood)].map((r) => `rule #${r.handle} of ${r.table} ${r.chain} is not one the model understands; it skipped it: ${r.text}`)];
  return { verdict, method: 'model', hops: walk.hops, notes, ...(walk.beyondHost ? { beyondHost: walk.beyondHost } : {}) };
}

async function fromSource(source: PathSource, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  switch (source.kind) {
    case 'sandbox':
      return fromSandbox(source, target, facts, walk);
    case 'host':
      return fromHost(source.label, target, facts, walk);
    case 'outside': {
      const hostAddresses = await facts.hostAddresses();
      if (!hostAddresses.has(target.address)) {
        walk.hops.push({ at: source.label, what: `has no route to ${target.address}: berth announces no container subnet to other hosts (publish a port instead)` });
        return 'no-route';
      }
      const facing = await facts.routeGet(undefined, source.address);
      if (!facing.ok) {
        walk.hops.push({ at: 'host', what: `cannot reach ${source.address} back: ${facing.reason}` });
        return 'no-route';
      }
      walk.hops.push({ at: source.label, what: `sends to ${target.address}${portText(target)}, arriving on the host's ${facing.dev}` });
      return intoHost({ iif: facing.dev, saddr: source.address, daddr: target.address }, target, facts, walk);
    }
  }
}

async function fromSandbox(source: Extract<PathSource, { kind: 'sandbox' }>, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  const route = await facts.routeGet(source.netns, target.address);
  if (!route.ok) {
    walk.hops.push({ at: source.label, what: `no route to ${target.address} (${route.reason})` });
    return 'no-route';
  }
  if (route.local) {
    walk.hops.push({ at: source.label, what: `${target.address} is its own address: delivered over lo` });
    return atListener(source.label, source.pid, target, target.address, target.port, facts, walk);
  }
  const endpoint = facts.endpointOf(source.netns, route.dev);
  const path = endpoint?.path;
  if (!endpoint || !path) {
    walk.hops.push({ at: source.label, what: `leaves by ${route.dev}, an interface the model does not follow` });
    walk.notes.push(`use --probe to see what really happens on ${route.dev}`);
    return 'no-route';
  }
  const saddr = route.source ?? '';
  const hostAddresses = await facts.hostAddresses();
  const nextHop = route.gateway ?? target.address;
  if (path.kind === 'lan') {
    walk.hops.push({ at: source.label, what: `${route.dev} (${saddr}), a ${endpoint.network} link on ${path.parent} (mode ${path.mode}): one more host of that LAN${route.gateway ? `, next hop ${route.gateway}` : ''}`, container: endpoint.container, network: endpoint.network });
    return onLan(path, endpoint.network, nextHop, target, hostAddresses, facts, walk);
  }
  walk.hops.push({
    at: source.label,
    what: `${route.dev} (${saddr}) -> ${endpoint.hostIfname ?? 'its host side'} -> bridge ${path.bridge} (network ${endpoint.network})${route.gateway ? `, next hop the gateway ${route.gateway}` : ''}`,
    container: endpoint.container,
    network: endpoint.network,
  });
  if (hostAddresses.has(nextHop) || hostAddresses.has(target.address)) {
    return intoHost({ iif: path.bridge, saddr, daddr: target.address }, target, facts, walk);
  }
  if (path.kind === 'overlay' && !facts.endpoints().some((e) => e.address === nextHop && e.path?.kind === 'overlay' && e.path.bridge === path.bridge)) {
    return throughTunnel(path, endpoint.network, nextHop, target, facts, walk);
  }
  return onBridge(path.bridge, nextHop, target.port, target, facts, walk);
}

/**
 * On a macvlan or ipvlan LAN: the parent's own addresses are out of reach (the kernel's
 * rule, unless the host has a link of its own there), children of one parent see each
 * other only where the driver says they meet, and anything else is a host of the LAN,
 * beyond berth's sight.
 */
async function onLan(path: Extract<EndpointPath, { kind: 'lan' }>, network: string, nextHop: string, target: PathTarget, hostAddresses: ReadonlySet<string>, facts: PathFacts, walk: Walk): Promise<Verdict> {
  if (hostAddresses.has(nextHop)) {
    walk.hops.push({ at: `lan ${path.parent}`, what: `${nextHop} is the host's own address: the kernel keeps a macvlan or ipvlan link from its parent's addresses, so ARP goes unanswered (-o berth.host_access=true gives the host a link of its own on the LAN)`, network });
    return 'no-route';
  }
  const peer = facts.endpoints().find((e) => e.address === nextHop && e.path?.kind === 'lan' && e.path.parent === path.parent);
  if (peer) {
    if (!path.siblingsMeet) {
      walk.hops.push({ at: `lan ${path.parent}`, what: `${peer.container} is a child of the same parent, and mode ${path.mode} keeps children apart: ARP goes unanswered`, network });
      return 'no-route';
    }
    walk.hops.push({ at: `lan ${path.parent}`, what: `-> ${peer.container} ${peer.ifname} (${nextHop}), switched inside the parent`, network: peer.network, container: peer.container });
    return atListener(peer.container, peer.pid, target, target.address, target.port, facts, walk);
  }
  walk.hops.push({ at: `lan ${path.parent}`, what: `leaves by ${path.parent} onto the LAN toward ${nextHop}` });
  walk.notes.push(`${nextHop} is a host of the LAN: what it does with the packet is not berth's to see`);
  walk.beyondHost = nextHop;
  return 'delivered';
}

/** An overlay address held on another host: through the VXLAN link to that host's VTEP. */
function throughTunnel(path: Extract<EndpointPath, { kind: 'overlay' }>, network: string, address: string, target: PathTarget, facts: PathFacts, walk: Walk): Verdict {
  const peer = facts.remotePeer(network, address);
  if (!peer) {
    walk.hops.push({ at: `bridge ${path.bridge}`, what: `nobody on network ${network} holds ${address}, here or on another host: ARP goes unanswered`, network });
    return 'no-route';
  }
  walk.hops.push({ at: `bridge ${path.bridge}`, what: `-> ${path.vxlan} (VNI ${path.vni}): the FDB sends ${address}'s MAC through the tunnel to host ${peer.vtep} (UDP 4789)`, network });
  walk.hops.push({ at: `host ${peer.vtep}`, what: `-> ${peer.container} (${address})`, network, container: peer.container });
  if (target.proto === 'icmp' || target.port === undefined) {
    walk.hops.push({ at: peer.container, what: 'the kernel answers the echo request' });
    return 'delivered';
  }
  // Whether something listens there is that host's to see: the packet is handed to it.
  walk.notes.push(`${peer.container} is on host ${peer.vtep}: its listeners are that host's to see; ask its daemon, or use --probe`);
  walk.beyondHost = peer.vtep;
  return 'delivered';
}

async function fromHost(label: string, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  const ruleset = await facts.ruleset();
  const hostAddresses = await facts.hostAddresses();
  // The source address is chosen for the destination as written, before any DNAT.
  const first = await facts.routeGet(undefined, target.address);
  const saddr = first.ok ? (first.source ?? (first.local ? target.address : '')) : '';
  const packet = packetOf({ iif: 'lo', saddr, daddr: target.address }, target, isLocal(target.address, hostAddresses));
  walk.hops.push({ at: label, what: `sends to ${target.address}${portText(target)}` });
  const { daddr, dport, dnatted } = applyDnat(ruleset, 'output', packet, facts, walk);
  const route = await facts.routeGet(undefined, daddr);
  if (!route.ok) {
    walk.hops.push({ at: 'host', what: `no route to ${daddr} (${route.reason})` });
    return 'no-route';
  }
  const sent: TracedPacket = { ...packet, daddr, dnatted, oif: route.dev, ...(dport === undefined ? {} : { dport }) };
  const output = filterAt(ruleset, 'output', sent, walk.notUnderstood);
  if (output.verdict === 'drop') return droppedAt('filter output', `dropped as it leaves the host by ${route.dev}`, output, facts, walk);
  if (route.local) {
    walk.hops.push({ at: 'host', what: `${daddr} is the host's own address: delivered over lo` });
    return atListener('host', 'self', target, daddr, dport, facts, walk);
  }
  masquerade(ruleset, sent, saddr, facts, walk);
  return leaveHost(route.dev, daddr, dport, target, facts, walk);
}

/** A packet entering the host's stack on `iif` (from a bridge or the uplink): raw guard, DNAT, then input or forward. */
async function intoHost(entry: { iif: string; saddr: string; daddr: string }, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  const ruleset = await facts.ruleset();
  const hostAddresses = await facts.hostAddresses();
  const packet = packetOf(entry, target, isLocal(entry.daddr, hostAddresses));
  const guard = filterAt(ruleset, 'prerouting', packet, walk.notUnderstood);
  if (guard.verdict === 'drop') return droppedAt('raw prerouting', 'dropped', guard, facts, walk);
  const { daddr, dport, dnatted } = applyDnat(ruleset, 'prerouting', packet, facts, walk);
  const after: TracedPacket = { ...packet, daddr, dnatted, daddrLocal: isLocal(daddr, hostAddresses), ...(dport === undefined ? {} : { dport }) };
  if (hostAddresses.has(daddr)) {
    const input = filterAt(ruleset, 'input', after, walk.notUnderstood);
    if (input.verdict === 'drop') return droppedAt('filter input', `dropped on its way to the host's ${daddr}`, input, facts, walk);
    walk.hops.push({ at: 'filter input', what: `accepted by the host (${daddr})`, ...(input.rule ? { rule: ruleOf(input.rule, facts) } : {}) });
    return atListener('host', 'self', target, daddr, dport, facts, walk);
  }
  const route = await facts.routeGet(undefined, daddr);
  if (!route.ok) {
    walk.hops.push({ at: 'host', what: `no route to ${daddr} (${route.reason})` });
    return 'no-route';
  }
  const forwarded: TracedPacket = { ...after, oif: route.dev };
  const forward = filterAt(ruleset, 'forward', forwarded, walk.notUnderstood);
  if (forward.verdict === 'drop') return droppedAt('filter forward', `dropped between ${entry.iif} and ${route.dev}`, forward, facts, walk);
  walk.hops.push({
    at: 'filter forward',
    what: `forwarded from ${entry.iif} to ${route.dev}${forward.rule ? '' : ' (no rule decided: the chains\' policy is accept)'}`,
    ...(forward.rule ? { rule: ruleOf(forward.rule, facts) } : {}),
  });
  masquerade(ruleset, forwarded, entry.saddr, facts, walk);
  return leaveHost(route.dev, daddr, dport, target, facts, walk);
}

/** A filter hook dropped the packet: by a rule, or by a chain's policy. */
function droppedAt(at: string, what: string, outcome: FilterOutcome, facts: PathFacts, walk: Walk): Verdict {
  const policy = outcome.policyOf ? ` by the policy of chain ${outcome.policyOf.name} (table ${outcome.policyOf.table})` : '';
  walk.hops.push({ at, what: `${what}${policy}`, ...(outcome.rule ? { rule: ruleOf(outcome.rule, facts) } : {}) });
  return 'dropped';
}

/** Source NAT as the packet leaves: the postrouting chains' masquerade, if one applies. */
function masquerade(ruleset: NftRuleset, packet: TracedPacket, saddr: string, facts: PathFacts, walk: Walk): void {
  const nat = natAt(ruleset, 'postrouting', packet, walk.notUnderstood);
  if (nat?.kind === 'masquerade') walk.hops.push({ at: 'nat postrouting', what: `masquerade: the source ${saddr} becomes the host's address on ${packet.oif ?? 'the way out'}`, rule: ruleOf(nat.rule, facts) });
}

/** The packet leaves the host's stack by `dev`: onto one of berth's bridges, or out of the host. */
function leaveHost(dev: string, daddr: string, dport: number | undefined, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  if (facts.networkOfBridge(dev) !== undefined) return onBridge(dev, daddr, dport, target, facts, walk);
  const child = facts.endpoints().find((e) => e.address === daddr && e.path?.kind === 'lan' && (e.path.parent === dev || e.path.hostLink === dev));
  if (child?.path?.kind === 'lan') {
    if (child.path.hostLink === dev) {
      walk.hops.push({ at: 'host', what: `leaves by its own link ${dev} on the LAN -> ${child.container} ${child.ifname} (${daddr})`, network: child.network, container: child.container });
      return atListener(child.container, child.pid, target, daddr, dport, facts, walk);
    }
    walk.hops.push({ at: 'host', what: `${daddr} is ${child.container}'s, a child of ${dev}: the kernel keeps the host from its own macvlan and ipvlan children, so ARP goes unanswered (-o berth.host_access=true gives the host a link of its own)`, network: child.network });
    return Promise.resolve('no-route');
  }
  walk.hops.push({ at: 'host', what: `leaves by ${dev} toward ${daddr}` });
  walk.notes.push(`${daddr} is beyond the host: what happens there is not berth's to see`);
  walk.beyondHost = daddr;
  return Promise.resolve('delivered');
}

/** Layer 2 on a bridge: the frame reaches whoever holds the address (bridged frames meet no IP hook). */
async function onBridge(bridge: string, address: string, dport: number | undefined, target: PathTarget, facts: PathFacts, walk: Walk): Promise<Verdict> {
  const owner = facts.endpoints().find((e) => e.address === address && e.path !== undefined && e.path.kind !== 'lan' && e.path.bridge === bridge);
  if (!owner) {
    walk.hops.push({ at: `bridge ${bridge}`, what: `nobody on network ${facts.networkOfBridge(bridge) ?? bridge} holds ${address}: ARP goes unanswered` });
    return 'no-route';
  }
  walk.hops.push({ at: `bridge ${bridge}`, what: `-> ${owner.hostIfname ?? 'a port'} -> ${owner.container} ${owner.ifname} (${address})`, network: owner.network, container: owner.container });
  return atListener(owner.container, owner.pid, target, address, dport, facts, walk);
}

async function atListener(label: string, pid: number | 'self', target: PathTarget, address: string, port: number | undefined, facts: PathFacts, walk: Walk): Promise<Verdict> {
  if (target.proto === 'icmp' || port === undefined) {
    walk.hops.push({ at: label, what: 'the kernel answers the echo request' });
    return 'delivered';
  }
  const proto = target.proto;
  if (await facts.listens(pid, proto, address, port)) {
    walk.hops.push({ at: label, what: `a socket ${proto === 'tcp' ? 'listens' : 'is bound'} on ${address}:${port}/${proto}` });
    return 'delivered';
  }
  walk.hops.push({ at: label, what: `nothing ${proto === 'tcp' ? 'listens' : 'is bound'} on ${port}/${proto}: ${proto === 'tcp' ? 'a reset' : 'an ICMP port unreachable'} comes back` });
  return 'no-listener';
}

function applyDnat(ruleset: NftRuleset, hook: Extract<Hook, 'prerouting' | 'output'>, packet: TracedPacket, facts: PathFacts, walk: Walk): { daddr: string; dport: number | undefined; dnatted: boolean } {
  const nat = natAt(ruleset, hook, packet, walk.notUnderstood);
  if (nat?.kind !== 'dnat') return { daddr: packet.daddr, dport: packet.dport, dnatted: false };
  const from = nat.map ? ` (element ${nat.element} of map ${nat.map})` : '';
  walk.hops.push({ at: `nat ${hook}`, what: `DNAT ${packet.daddr}:${packet.dport} -> ${nat.address}:${nat.port}${from}`, rule: ruleOf(nat.rule, facts) });
  return { daddr: nat.address, dport: nat.port, dnatted: true };
}

function packetOf(entry: { iif: string; saddr: string; daddr: string }, target: PathTarget, daddrLocal: boolean): TracedPacket {
  return { iif: entry.iif, saddr: entry.saddr, daddr: entry.daddr, proto: target.proto, dnatted: false, daddrLocal, ...(target.port === undefined ? {} : { dport: target.port }) };
}

function isLocal(address: string, hostAddresses: ReadonlySet<string>): boolean {
  return hostAddresses.has(address) || address.startsWith('127.');
}

function ruleOf(rule: NftRule, facts: PathFacts): TraceRule {
  return { table: rule.table, chain: rule.chain, handle: rule.handle, text: rule.text, why: facts.reasonFor(rule) };
}

function portText(target: PathTarget): string {
  return target.port === undefined ? ` (${target.proto})` : `:${target.port}/${target.proto}`;
}
