import { randomHex } from '../common/random-hex.js';
import type { KernelOp } from '../kernel/ops.js';
import { LEAVING_PREFIX } from '../kernel/reaper.js';
import type { HostLinkPresence } from '../kernel/view.js';
import { macForAddress, type DriverEndpoint, type EndpointNames, type EndpointRequest } from './driver.js';

/**
 * Endpoints as veth pairs on a Linux bridge, shared by the drivers built that way (bridge,
 * overlay): the host end enslaved to the bridge, the other end born in the sandbox.
 */

/** Host-side veth name: "veth" + 7 hex digits, as Docker names them (15 chars max is the kernel's IFNAMSIZ). */
export function hostVethName(random: () => string = () => randomHex(7)): string {
  return `veth${random()}`;
}

/** A free host-side name, and the MAC asked for or Docker's 02:42:<IPv4>. */
export function vethEndpointNames(request: EndpointRequest): EndpointNames {
  let hostIfname = hostVethName();
  while (request.takenHostNames.has(hostIfname)) hostIfname = hostVethName();
  return { ifname: request.ifname, hostIfname, mac: request.mac ?? macForAddress(request.address) };
}

/** The MAC of the endpoint's end of the pair: the one asked for, or Docker's 02:42:<IPv4>. */
export function vethPeerMac(endpoint: DriverEndpoint): string {
  return endpoint.mac ?? macForAddress(endpoint.address);
}

/** The endpoint's host-side veth (every endpoint of these drivers has one). */
export function hostSide(endpoint: DriverEndpoint): string {
  if (endpoint.hostIfname === undefined) throw new Error(`endpoint ${endpoint.id} has no host-side veth`);
  return endpoint.hostIfname;
}

/**
 * The pair made with its host end on `bridge` and its other end up in `netns` with the
 * endpoint's address. The host end is a bridge port, which needs no IPv6 at all
 * (hostEndWithoutIpv6).
 */
export function vethJoinOps(bridge: string, mtu: number | undefined, netns: string, endpoint: DriverEndpoint): KernelOp[] {
  return [
    { kind: 'veth-add', hostName: hostSide(endpoint), master: bridge, peerName: endpoint.ifname, peerMac: vethPeerMac(endpoint), peerNetns: netns, mtu },
    hostEndWithoutIpv6(endpoint),
    { kind: 'addr-add', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` },
    { kind: 'link-up', netns, dev: endpoint.ifname },
  ];
}

/**
 * The pair for a sandbox another runtime owns: the host end on `bridge`, the other end
 * left in the host namespace (down, unaddressed) for that runtime to move in.
 */
export function vethExternalOps(bridge: string, mtu: number | undefined, endpoint: DriverEndpoint): KernelOp[] {
  return [{ kind: 'veth-add', hostName: hostSide(endpoint), master: bridge, peerName: endpoint.ifname, peerMac: vethPeerMac(endpoint), mtu }, hostEndWithoutIpv6(endpoint)];
}

/**
 * IPv6 off on a host end, set before its peer brings it a carrier. A bridge port needs no
 * address of its own, and without IPv6 it sends no autoconfiguration messages into the
 * container. `addrgenmode none` (what a sandbox's end gets) is not enough here: an
 * interface with IPv6 on still adds a multicast route (ff00::/8) to the host's local table
 * when it comes up, and the kernel walks that whole table at each IPv6-enabled link's state
 * change — a setlink of a not-yet-ready link took 0.34 ms with 1,000 containers' routes in
 * it against 0.13 ms with none. The write is to the host's own /proc/sys/net, so it does not
 * pay a new namespace's first sysctl lookup (docs/decisions.md).
 */
function hostEndWithoutIpv6(endpoint: DriverEndpoint): KernelOp {
  return { kind: 'sysctl', key: `net.ipv6.conf.${hostSide(endpoint)}.disable_ipv6`, value: '1' };
}

/** Deleting either end deletes both, wherever the other end is; nothing when the pair is gone already. */
export function vethExternalRemoveOps(endpoint: DriverEndpoint, live: HostLinkPresence): KernelOp[] {
  return live.links.has(hostSide(endpoint)) ? [{ kind: 'link-del', dev: hostSide(endpoint) }] : [];
}

/**
 * Leaving: deleting one end of a pair deletes both, but makes the caller wait 15-40 ms of
 * RCU grace periods, and holds the kernel's RTNL lock for part of it: run beside berth's
 * next plans, a deletion made them wait as long (network rm or create 20-30 ms at p95
 * after a disconnect, against 5-6 ms without). So the container's end loses its address and
 * is taken down and renamed at once (one round trip: its name is free for the next
 * interface, and it carries nothing), and the host end is taken down and deleted in the
 * background (LinkDel.background), its peer with it: `deletion` says when, at once or once
 * berth's plans pause (until then the container lists the renamed end, down, without an
 * address). A namespace deletion takes the pair asynchronously, so then nothing is planned.
 */
export function vethLeaveOps(netns: string, endpoint: DriverEndpoint, sandboxGoing: boolean, deletion: 'now' | 'when-idle'): KernelOp[] {
  if (sandboxGoing) return [];
  const host = hostSide(endpoint);
  return [
    { kind: 'addr-del', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` },
    { kind: 'link-down', netns, dev: endpoint.ifname },
    { kind: 'link-rename', netns, dev: endpoint.ifname, name: leavingName(host) },
    { kind: 'link-del', dev: host, background: deletion },
  ];
}

/** The name a container's end of a pair has while it is deleted: "gone" and the host end's 7 hex digits (unique as that is). */
export function leavingName(hostSideName: string): string {
  return `${LEAVING_PREFIX}${hostSideName.slice('veth'.length)}`;
}
