import { parseCidr } from '../../common/ipv4.js';
import type { FirewallNetwork } from '../../firewall/model.js';
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
  type DriverData,
  type DriverEndpoint,
  type DriverNetwork,
  type EndpointNames,
  type EndpointRequest,
  type JoinResult,
  type NetworkAddressing,
  type NetworkDriver,
  type RecordedEndpoint,
} from '../driver.js';
import { hostSide, vethEndpointNames, vethExternalOps, vethExternalRemoveOps, vethJoinOps, vethLeaveOps } from '../veth.js';
import { bridgeData, bridgeOptionsOf, parseBridgeOptions } from './options.js';

/**
 * The bridge driver, as the seeds draw docker0: a Linux bridge holding the gateway
 * address, one veth pair per endpoint with the host end enslaved to the bridge and the
 * other end inside the sandbox as eth0, eth1, ... NAT, isolation and published ports are
 * its contribution to the firewall.
 */
export class BridgeDriver implements NetworkDriver {
  readonly name = 'bridge';
  readonly capabilities: DriverCapabilities = { scope: 'local', publishesPorts: true, embeddedDns: true, needsParent: false, userCreatable: true, multipleSubnets: false, routesOut: true };

  probe(features: KernelFeatures): DriverAvailability {
    for (const kind of ['bridge', 'veth'] as const) {
      if (!features.linkKinds.has(kind)) return { available: false, reason: `this kernel has no ${kind} links` };
    }
    return { available: true };
  }

  validateOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): DriverConfig {
    return { data: bridgeData(parseBridgeOptions(raw, ctx)) };
  }

  createNetwork(network: DriverNetwork): Plan {
    const { bridge, mtu } = bridgeOptionsOf(network.data);
    const ops: KernelOp[] = [
      { kind: 'bridge-add', name: bridge, mac: bridgeMac(network.id), mtu },
      { kind: 'link-alias', dev: bridge, alias: ownerAlias(network.id) },
    ];
    const gateway = gatewayCidr(network);
    if (gateway !== undefined) ops.push({ kind: 'addr-add', dev: bridge, cidr: gateway });
    ops.push(
      { kind: 'link-up', dev: bridge },
      // The host reaches published ports through 127.0.0.1: DNAT'd packets with a loopback
      // source may then leave by the bridge (Docker sets the same).
      { kind: 'sysctl', key: `net.ipv4.conf.${bridge}.route_localnet`, value: '1' },
    );
    return ops;
  }

  deleteNetwork(network: DriverNetwork, live: HostLinkPresence): Plan {
    // In the background: deleting a bridge costs its caller 30-40 ms of RCU grace periods here.
    return withoutAbsentLinks([{ kind: 'link-del', dev: bridgeOptionsOf(network.data).bridge, background: 'when-idle' }], live.links);
  }

  createEndpoint(_network: DriverNetwork, request: EndpointRequest): EndpointNames {
    return vethEndpointNames(request);
  }

  join(network: DriverNetwork, netns: string, endpoint: DriverEndpoint): JoinResult {
    const { bridge, mtu } = bridgeOptionsOf(network.data);
    const { gateway } = onlySubnet(network);
    return { plan: vethJoinOps(bridge, mtu, netns, endpoint), info: gateway === undefined ? {} : { defaultRoute: { via: gateway } } };
  }

  leave(_network: DriverNetwork, netns: string, endpoint: DriverEndpoint, opts: { readonly sandboxGoing: boolean }): Plan {
    return vethLeaveOps(netns, endpoint, opts.sandboxGoing, 'when-idle');
  }

  joinExternal(network: DriverNetwork, endpoint: DriverEndpoint): JoinResult {
    const { bridge, mtu } = bridgeOptionsOf(network.data);
    const { gateway } = onlySubnet(network);
    return { plan: vethExternalOps(bridge, mtu, endpoint), info: gateway === undefined || network.internal ? {} : { defaultRoute: { via: gateway } } };
  }

  removeExternal(_network: DriverNetwork, endpoint: DriverEndpoint, live: HostLinkPresence): Plan {
    return vethExternalRemoveOps(endpoint, live);
  }

  /**
   * Whatever drifted: the bridge gone (re-created, and its veths re-attached: a new bridge
   * has no ports), its address, state or alias lost, a running container's veth deleted
   * (joined again), detached (enslaved again) or down (up again), and veths on the bridge
   * no record knows.
   */
  repair(network: DriverNetwork, endpoints: readonly RecordedEndpoint[], live: KernelView): Plan {
    const { bridge } = bridgeOptionsOf(network.data);
    const existing = live.links.get(bridge);
    const ops: KernelOp[] = [];
    if (!existing) {
      ops.push(...this.createNetwork(network));
    } else {
      const addresses = live.addresses.get(bridge) ?? [];
      const gateway = gatewayCidr(network);
      if (gateway !== undefined && !addresses.includes(gateway)) ops.push({ kind: 'addr-add', dev: bridge, cidr: gateway });
      if (existing.alias !== ownerAlias(network.id)) ops.push({ kind: 'link-alias', dev: bridge, alias: ownerAlias(network.id) });
      if (!existing.up) ops.push({ kind: 'link-up', dev: bridge });
    }
    for (const e of endpoints.filter((e) => e.running)) {
      const veth = live.links.get(hostSide(e.endpoint));
      if (!veth) {
        ops.push(...joinPlan(e.netns, this.join(network, e.netns, e.endpoint), e.gatewayEndpoint));
      } else if (veth.master !== bridge) {
        ops.push({ kind: 'port-attach', dev: veth.name, master: bridge }, { kind: 'link-up', dev: veth.name });
      } else {
        // Taken down by hand: up again (its hairpin setting stayed with it).
        if (!veth.up) ops.push({ kind: 'link-up', dev: veth.name });
        continue;
      }
      if (e.carriesPorts) ops.push(...this.externalConnectivity(network, e.endpoint));
    }
    const known = new Set(endpoints.map((e) => hostSide(e.endpoint)));
    for (const link of live.links.values()) {
      if (link.master === bridge && /^veth[0-9a-f]{7}$/.test(link.name) && !known.has(link.name)) ops.push({ kind: 'link-del', dev: link.name });
    }
    return ops;
  }

  firewall(network: DriverNetwork): FirewallNetwork {
    const { bridge, hostAccess } = bridgeOptionsOf(network.data);
    return { bridge, subnet: onlySubnet(network).subnet, internal: network.internal, hostAccess };
  }

  pathOf(network: DriverNetwork): EndpointPath {
    return { kind: 'bridge', bridge: bridgeOptionsOf(network.data).bridge };
  }

  externalConnectivity(_network: DriverNetwork, endpoint: DriverEndpoint): Plan {
    // Hairpin lets the container reach its own published ports through a host address.
    return [{ kind: 'port-hairpin', dev: hostSide(endpoint) }];
  }
}

/** A bridge network has one subnet (multipleSubnets is false, as in Docker's bridge driver). */
function onlySubnet(network: DriverNetwork): NetworkAddressing {
  return network.subnets[0]!;
}

/** The gateway's address on the bridge, with the subnet's prefix; undefined when it has none. */
function gatewayCidr(network: DriverNetwork): string | undefined {
  const { gateway, subnet } = onlySubnet(network);
  return gateway === undefined ? undefined : `${gateway}/${parseCidr(subnet).prefixLength}`;
}

/** The Linux bridge of a bridge network, from its driver data. */
export function bridgeOf(data: DriverData): string {
  return bridgeOptionsOf(data).bridge;
}

