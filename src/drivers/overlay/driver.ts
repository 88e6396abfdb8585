import { MissingFeatureError } from '../../common/errors.js';
import type { KernelFeatures } from '../../kernel/features.js';
import { withoutAbsentLinks, type KernelOp, type Plan } from '../../kernel/ops.js';
import type { HostLinkPresence, KernelView } from '../../kernel/view.js';
import { bridgeMac } from '../bridge-mac.js';
import {
  type EndpointPath,
  joinPlan,
  ownerAlias,
  type DriverAvailability,
  type DriverCapabilities,
  type DriverConfig,
  type DriverCreateContext,
  type DriverEndpoint,
  type DriverNetwork,
  type EndpointNames,
  type EndpointRequest,
  type JoinResult,
  type NetworkDriver,
  type RecordedEndpoint,
  type RemoteEndpoint,
} from '../driver.js';
import { hostSide, vethEndpointNames, vethPeerMac, vethExternalOps, vethExternalRemoveOps, vethJoinOps, vethLeaveOps } from '../veth.js';
import { overlayData, overlayOptionsOf, parseOverlayOptions, VXLAN_OVERHEAD, VXLANID_OPTION, type OverlayOptions } from './options.js';

/** VXLAN's IANA port, as Docker's overlay and flannel's vxlan backend use. */
export const VXLAN_PORT = 4789;

/**
 * The overlay driver (seeds 001, 004; part 7): one network across the hosts of a cluster.
 * On each host, a Linux bridge `ov-<id>` and a VXLAN link `vx-<id>` enslaved to it (the
 * network's VNI, this host's VTEP address, UDP 4789, learning off, ARP proxy on); each
 * endpoint a veth on the bridge, as with the bridge driver, with the VXLAN MTU. Nothing is
 * learned by flooding: for every endpoint on another host, the engine (watching the
 * cluster store) has this driver plan a static FDB entry (its MAC → its host's VTEP) and a
 * permanent neighbour entry (its address → its MAC), which the VXLAN link's ARP proxy
 * answers from — Docker's overlay does the same, per endpoint.
 *
 * The bridge holds no address, so the host has no route into the network and the
 * network's subnet never meets the host's routing table: Docker gets the same by putting
 * the bridge in a namespace of its own, at the cost of one more namespace per network;
 * berth keeps one namespace fewer and lets the kernel view and repair see the links.
 */
export class OverlayDriver implements NetworkDriver {
  readonly name = 'overlay';
  readonly capabilities: DriverCapabilities = { scope: 'global', publishesPorts: false, embeddedDns: true, needsParent: false, userCreatable: true, multipleSubnets: false, routesOut: false };

  constructor(
    private readonly features: KernelFeatures,
    /** This host's VTEP: its `--cluster-advertise` address; undefined when the daemon joined no cluster. */
    private readonly vtep: string | undefined,
    /** The MTU of the link the VTEP address is on, when known: the overlay's default MTU is 50 less. */
    private readonly underlayMtu?: number,
  ) {}

  /** Available where the kernel has VXLAN links and the daemon joined a cluster: both are asked before anything else of a create. */
  probe(features: KernelFeatures): DriverAvailability {
    for (const kind of ['vxlan', 'bridge', 'veth'] as const) {
      if (!features.linkKinds.has(kind)) return { available: false, reason: `this kernel has no ${kind} links` };
    }
    return this.vtep === undefined ? { available: false, reason: NEEDS_CLUSTER } : { available: true };
  }

  validateOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): DriverConfig {
    if (this.vtep === undefined) throw needsCluster();
    const options = parseOverlayOptions(raw, ctx, this.features, this.underlayMtu === undefined ? undefined : this.underlayMtu - VXLAN_OVERHEAD);
    return { data: overlayData(options), impliedOptions: { [VXLANID_OPTION]: String(options.vni) } };
  }

  createNetwork(network: DriverNetwork): Plan {
    const options = overlayOptionsOf(network.data);
    return [...bridgePlan(network, options, this.vtep), ...this.vxlanPlan(network, options)];
  }

  deleteNetwork(network: DriverNetwork, live: HostLinkPresence): Plan {
    const { bridge, vxlan } = overlayOptionsOf(network.data);
    return withoutAbsentLinks([{ kind: 'link-del', dev: vxlan }, { kind: 'link-del', dev: bridge }], live.links);
  }

  createEndpoint(_network: DriverNetwork, request: EndpointRequest): EndpointNames {
    return vethEndpointNames(request);
  }

  join(network: DriverNetwork, netns: string, endpoint: DriverEndpoint): JoinResult {
    const { bridge, mtu } = overlayOptionsOf(network.data);
    // No default route through the overlay: the bridge has no gateway address on this host.
    // The bridge learns MACs on the VXLAN port from remote containers' frames, and keeps
    // them for minutes: an address (and with it the MAC) used on another host a moment ago
    // would still be sent into the tunnel while its new owner here stays silent (no IPv6
    // autoconfiguration announces it). A static entry on its port says where it is now.
    return { plan: [...vethJoinOps(bridge, mtu, netns, endpoint), { kind: 'port-fdb-static', dev: hostSide(endpoint), mac: vethPeerMac(endpoint) }], info: {} };
  }

  leave(_network: DriverNetwork, netns: string, endpoint: DriverEndpoint, opts: { readonly sandboxGoing: boolean }): Plan {
    // At once: the port's static FDB entry (joinPlan) sends the MAC to this port until it is deleted, and the address may be taken on another host meanwhile.
    return vethLeaveOps(netns, endpoint, opts.sandboxGoing, 'now');
  }

  /** No default route here either: dockerd then gives the sandbox its docker_gwbridge, as for its own overlay. */
  joinExternal(network: DriverNetwork, endpoint: DriverEndpoint): JoinResult {
    const { bridge, mtu } = overlayOptionsOf(network.data);
    return { plan: vethExternalOps(bridge, mtu, endpoint), info: {} };
  }

  removeExternal(_network: DriverNetwork, endpoint: DriverEndpoint, live: HostLinkPresence): Plan {
    return vethExternalRemoveOps(endpoint, live);
  }

  /**
   * The bridge or the VXLAN link gone (re-created: a new VXLAN link has an empty FDB, which
   * the engine programs again from the cluster store after repair), down, or detached; a
   * running container's veth gone (joined again), detached (enslaved again) or down (up again).
   */
  repair(network: DriverNetwork, endpoints: readonly RecordedEndpoint[], live: KernelView): Plan {
    const options = overlayOptionsOf(network.data);
    const ops: KernelOp[] = [];
    const bridge = live.links.get(options.bridge);
    if (!bridge) ops.push(...bridgePlan(network, options, this.vtep));
    else if (!bridge.up) ops.push({ kind: 'link-up', dev: options.bridge });
    const vxlan = live.links.get(options.vxlan);
    if (!vxlan) ops.push(...this.vxlanPlan(network, options));
    else if (vxlan.master !== options.bridge) ops.push({ kind: 'port-attach', dev: options.vxlan, master: options.bridge }, { kind: 'link-up', dev: options.vxlan });
    else if (!vxlan.up) ops.push({ kind: 'link-up', dev: options.vxlan });
    for (const e of endpoints.filter((e) => e.running)) {
      const veth = live.links.get(hostSide(e.endpoint));
      if (!veth) ops.push(...joinPlan(e.netns, this.join(network, e.netns, e.endpoint), e.gatewayEndpoint));
      else if (veth.master !== options.bridge) ops.push({ kind: 'port-attach', dev: veth.name, master: options.bridge }, { kind: 'link-up', dev: veth.name });
      else if (!veth.up) ops.push({ kind: 'link-up', dev: veth.name });
    }
    return ops;
  }

  /**
   * Forwarding to the endpoints on other hosts: for each one gone (or moved), its FDB and
   * neighbour entries removed; for each one new (or moved), added. An address reused by a
   * new endpoint gets its new MAC and VTEP, never a stale pair (moby/moby#52661).
   */
  pathOf(network: DriverNetwork): EndpointPath {
    const { bridge, vxlan, vni } = overlayOptionsOf(network.data);
    return { kind: 'overlay', bridge, vxlan, vni };
  }

  peersChanged(network: DriverNetwork, before: readonly RemoteEndpoint[], after: readonly RemoteEndpoint[]): Plan {
    const { vxlan } = overlayOptionsOf(network.data);
    const key = (e: RemoteEndpoint) => `${e.address} ${e.mac} ${e.vtep}`;
    const kept = new Set(after.map(key));
    const had = new Set(before.map(key));
    const ops: KernelOp[] = [];
    const readdressed = new Set(after.map((e) => e.address));
    for (const gone of before.filter((e) => !kept.has(key(e)))) {
      ops.push({ kind: 'fdb-del', dev: vxlan, mac: gone.mac, dst: gone.vtep });
      // An address taken over by another endpoint is replaced below, not deleted.
      if (!readdressed.has(gone.address)) ops.push({ kind: 'neigh-del', dev: vxlan, address: gone.address });
    }
    for (const added of after.filter((e) => !had.has(key(e)))) {
      ops.push({ kind: 'fdb-replace', dev: vxlan, mac: added.mac, dst: added.vtep }, { kind: 'neigh-replace', dev: vxlan, address: added.address, mac: added.mac });
    }
    return ops;
  }

  private vxlanPlan(network: DriverNetwork, options: OverlayOptions): KernelOp[] {
    if (this.vtep === undefined) throw needsCluster();
    return [
      { kind: 'vxlan-add', name: options.vxlan, vni: options.vni, local: this.vtep, dstport: VXLAN_PORT, mtu: options.mtu },
      { kind: 'link-alias', dev: options.vxlan, alias: ownerAlias(network.id) },
      { kind: 'port-attach', dev: options.vxlan, master: options.bridge },
      { kind: 'link-up', dev: options.vxlan },
    ];
  }
}

/** The network's bridge on this host; its MAC differs from the same network's bridge on other hosts (`vtep`: this host's). */
function bridgePlan(network: DriverNetwork, options: OverlayOptions, vtep: string | undefined): KernelOp[] {
  return [
    { kind: 'bridge-add', name: options.bridge, mac: bridgeMac(`${network.id} on ${vtep ?? 'no VTEP'}`), mtu: options.mtu },
    { kind: 'link-alias', dev: options.bridge, alias: ownerAlias(network.id) },
    { kind: 'link-up', dev: options.bridge },
  ];
}

const NEEDS_CLUSTER = 'overlay networks need a cluster store: start the daemon with --cluster-store';

function needsCluster(): MissingFeatureError {
  return new MissingFeatureError(NEEDS_CLUSTER, 'berth daemon --cluster-store etcd://HOST:PORT --cluster-advertise ADDR (docs/drivers.md)');
}
