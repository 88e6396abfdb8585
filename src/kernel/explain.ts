import type { KernelOp, Plan } from './ops.js';
import { channelOf, renderOp } from './render.js';

/**
 * A plan as a person would type it, in the seeds' style: each step preceded by one comment
 * line saying why it is there, and a heading each time the commands move to another
 * network namespace. The commands are exactly `renderOp`'s (what `--dry-run` prints and
 * what the ip executor runs), so a script printed here, run by `sh -e` in a fresh
 * namespace, builds the same kernel state the daemon builds.
 */
export function explainPlan(plan: Plan, names: readonly NameRecord[] = []): string {
  const lines: string[] = [];
  let where: string | undefined;
  for (const op of plan) {
    const here = namespaceOf(op);
    if (here !== where || lines.length === 0) {
      if (lines.length > 0) lines.push('');
      lines.push(here === HOST ? '# --- on the host' : `# --- inside namespace ${here} (ip -n ${here} ..., or: ip netns exec ${here} sh)`);
      where = here;
    }
    lines.push(`# ${whyOf(op)}`, renderOp(op));
  }
  if (names.length > 0) {
    if (lines.length > 0) lines.push('');
    lines.push("# --- names berth's embedded resolver (127.0.0.11 inside containers) starts answering; no command: the daemon holds them");
    for (const n of names) lines.push(`#   ${n.names.join(', ')} -> ${n.address}   (network ${n.network})`);
  }
  return lines.join('\n');
}

/** Names that resolve to an address on one network once the operation is done. */
export interface NameRecord {
  readonly names: readonly string[];
  readonly address: string;
  readonly network: string;
}

const HOST = 'host';

/** The namespace a step acts in: `ip -n NS` steps act inside NS; everything else on the host. */
function namespaceOf(op: KernelOp): string {
  const channel = channelOf(op);
  return (channel.tool === 'ip' || channel.tool === 'nft') && channel.netns !== undefined ? channel.netns : HOST;
}

/** One sentence: why berth takes this step (what a reader of the seeds would write above it). */
export function whyOf(op: KernelOp): string {
  switch (op.kind) {
    case 'netns-add':
      return `the container's own network stack (its sandbox), pinned at /run/netns/${op.name} so ip -n can reach it`;
    case 'netns-attach':
      return `pin the network namespace process ${op.pid} already has as /run/netns/${op.name}`;
    case 'netns-del':
      return `delete the sandbox: every interface in it goes, and with each its veth peer on the host`;
    case 'bridge-add':
      return `the network's bridge: a virtual switch the containers' veths plug into (the seeds' docker0); multicast goes to every port (no snooping: it would make each new port cost more the more ports there are); its MAC is fixed here (without one it takes its lowest port's, changing as containers come and go)`;
    case 'veth-add':
      return `a veth pair, a virtual cable: ${op.hostName} stays on the host plugged into ${op.master}; ${op.peerName} (MAC ${op.peerMac}) is the container's end${op.peerNetns ? `, born inside ${op.peerNetns}` : ''}; one queue each way on both ends, asked for at creation (the kernel would cut its default to one anyway, waiting for an RCU grace period)`;
    case 'macvlan-add':
      return `a macvlan link on ${op.parent}: its own MAC on the parent's LAN, mode ${op.mode}, so the container is one more host of that LAN`;
    case 'ipvlan-add':
      return `an ipvlan link on ${op.parent} (mode ${op.mode}): the parent's MAC, its own address`;
    case 'vlan-add':
      return `an 802.1Q sub-interface of ${op.parent} tagging VLAN ${op.vlanId}, the parent the network's links hang on`;
    case 'dummy-add':
      return `a dummy link: a parent that goes nowhere, for a network with no way out`;
    case 'vxlan-add':
      return `the overlay's VXLAN tunnel endpoint: VNI ${op.vni}, sent from ${op.local} over UDP ${op.dstport}; no learning, peers come from static FDB entries`;
    case 'fdb-replace':
      return `frames for ${op.mac} go through the tunnel to the host at ${op.dst} (where that container lives)`;
    case 'fdb-del':
      return `forget that ${op.mac} lives behind ${op.dst}`;
    case 'port-fdb-static':
      return `the bridge sends frames for ${op.mac} out of ${op.dev} from now on: it may remember that MAC behind the tunnel, from a container that had this address on another host, and the container may stay silent until someone talks to it`;
    case 'neigh-replace':
      return `answer ARP for ${op.address} locally with ${op.mac} (the VXLAN link's proxy), no broadcast across hosts`;
    case 'neigh-del':
      return `forget the neighbour entry for ${op.address}`;
    case 'link-up':
      return op.dev === 'lo' ? 'loopback up: 127.0.0.1 works inside the container' : `bring ${op.dev} up`;
    case 'link-no-ipv6-address':
      return `${op.dev} makes no IPv6 address of its own: the network is IPv4-only, and a link-local address brings autoconfiguration messages (DAD, router solicitations) that a bridge floods to every container on it`;
    case 'link-down':
      return `take ${op.dev} down: it stops sending and receiving at once`;
    case 'link-alias':
      return `mark the link with its network's id, so berth can tell its own links from another tool's after a restart`;
    case 'port-attach':
      return `plug ${op.dev} into the bridge ${op.master}`;
    case 'port-hairpin':
      return `hairpin on: the bridge may send a frame back out of the port it came in by, so a container reaches its own published port`;
    case 'link-del':
      return `delete ${op.dev} (a veth's peer goes with it)${op.background === 'now' ? '; the daemon takes it down at once and deletes it in the background, so the caller does not wait for the kernel' : op.background === 'when-idle' ? "; the daemon takes it down at once and deletes it in the background once its work pauses (a deletion holds the kernel's RTNL lock)" : ''}`;
    case 'link-rename':
      return `rename ${op.dev} to ${op.name}: its name is free at once for the next interface while the kernel deletes it`;
    case 'addr-add':
      return `the address ${op.cidr} on ${op.dev}: the kernel adds the route to its subnet with it`;
    case 'addr-del':
      return `remove the address ${op.cidr} from ${op.dev}`;
    case 'route-add':
      return op.dst === 'default'
        ? `the default route: whatever is not on a local subnet goes to ${op.via ?? op.dev}, the network's gateway`
        : `a route to ${op.dst} ${op.via ? `through ${op.via}` : `straight out of ${op.dev}`}`;
    case 'route-del':
      return op.dst === 'default' ? `the default route leaves this interface` : `remove the route to ${op.dst}`;
    case 'sysctl':
      return SYSCTL_REASONS.find(([pattern]) => pattern.test(op.key))?.[1] ?? `set ${op.key} to ${op.value}`;
    case 'nft-apply':
      return `${op.description}: one atomic nftables transaction (all of it or nothing)`;
    case 'iptables-apply':
      return `${op.description}: berth's own chains, then the jumps into them from the built-in chains`;
    case 'iptables-remove':
      return op.description;
  }
}

const SYSCTL_REASONS: readonly (readonly [RegExp, string])[] = [
  [/\.route_localnet$/, 'route_localnet: a published port reached on 127.0.0.1 may be DNATed to a container (Docker does the same)'],
  [/^net\.ipv4\.ip_forward$/, 'ip_forward: the host routes between its bridges and the uplink, which NAT needs'],
  [/\.proxy_arp$/, 'proxy_arp: the host answers ARP for addresses it routes'],
  [/\.forwarding$/, 'forwarding on this interface: packets may be routed through it'],
  [/^net\.ipv6\.conf\.[^.]+\.disable_ipv6$/, 'IPv6 off on this bridge port: it needs no address of its own, sends no autoconfiguration messages, and adds no route per container to the host\'s IPv6 tables'],
];
