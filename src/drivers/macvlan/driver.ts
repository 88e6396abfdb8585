import type { KernelFeatures } from '../../kernel/features.js';
import { withoutAbsentLinks, type KernelOp, type Plan } from '../../kernel/ops.js';
import type { HostLinkPresence, KernelView } from '../../kernel/view.js';
import {
  type EndpointPath,
  macForAddress,
  ownerAlias,
  subnetHolding,
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
} from '../driver.js';
import { createParentPlan, deleteParentPlan, removeExternalLink, repairOnParent } from '../parent.js';
import { HOST_ACCESS_AUX_NAME, macvlanData, macvlanOptionsOf, parseMacvlanOptions, type MacvlanOptions } from './options.js';

/**
 * The macvlan driver (seed 004): each endpoint is a macvlan link on the parent, born in the
 * sandbox as eth0/ethN with its own MAC, so the container is a host of the parent's LAN:
 * LAN hosts reach it directly, no NAT, no port mapping. The kernel never switches frames
 * between a macvlan link and its parent, so the host cannot reach its own containers —
 * unless `berth.host_access` gives the host a macvlan link of its own on the parent, with
 * one /32 route per container through it (what people otherwise do by hand).
 */
export class MacvlanDriver implements NetworkDriver {
  readonly name = 'macvlan';
  readonly capabilities: DriverCapabilities = { scope: 'local', publishesPorts: false, embeddedDns: true, needsParent: true, userCreatable: true, multipleSubnets: true, routesOut: true };

  constructor(private readonly features: KernelFeatures) {}

  probe(features: KernelFeatures): DriverAvailability {
    return features.linkKinds.has('macvlan') ? { available: true } : { available: false, reason: 'this kernel lacks macvlan support (CONFIG_MACVLAN)' };
  }

  validateOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): DriverConfig {
    const options = parseMacvlanOptions(raw, ctx, this.features);
    return { data: macvlanData(options), reservedAddresses: options.hostAccess ? { [HOST_ACCESS_AUX_NAME]: options.hostAccess.address } : {} };
  }

  createNetwork(network: DriverNetwork): Plan {
    const options = macvlanOptionsOf(network.data);
    return [...createParentPlan(network.id, options), ...hostAccessPlan(network, options)];
  }

  deleteNetwork(network: DriverNetwork, live: HostLinkPresence): Plan {
    const options = macvlanOptionsOf(network.data);
    // The host's link first: a parent berth created takes its children with it anyway.
    const host = options.hostAccess ? withoutAbsentLinks([{ kind: 'link-del', dev: options.hostAccess.link }], live.links) : [];
    return [...host, ...deleteParentPlan(options, live)];
  }

  createEndpoint(_network: DriverNetwork, request: EndpointRequest): EndpointNames {
    return { ifname: request.ifname, mac: request.mac ?? macForAddress(request.address) };
  }

  join(network: DriverNetwork, netns: string, endpoint: DriverEndpoint): JoinResult {
    const options = macvlanOptionsOf(network.data);
    const plan: KernelOp[] = [
      { kind: 'macvlan-add', name: endpoint.ifname, parent: options.parent, mode: options.mode, netns, mac: endpoint.mac ?? macForAddress(endpoint.address) },
      { kind: 'addr-add', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` },
      { kind: 'link-up', netns, dev: endpoint.ifname },
    ];
    // Replace, not add: a route left by an earlier holder of the address points the same way.
    if (options.hostAccess) plan.push({ kind: 'route-add', replace: true, dst: `${endpoint.address}/32`, dev: options.hostAccess.link });
    const { gateway } = subnetHolding(network.subnets, endpoint.address);
    return { plan, info: gateway === undefined || network.internal ? {} : { defaultRoute: { via: gateway } } };
  }

  joinExternal(network: DriverNetwork, endpoint: DriverEndpoint): JoinResult {
    const options = macvlanOptionsOf(network.data);
    const plan: KernelOp[] = [{ kind: 'macvlan-add', name: endpoint.ifname, parent: options.parent, mode: options.mode, mac: endpoint.mac ?? macForAddress(endpoint.address) }];
    if (options.hostAccess) plan.push({ kind: 'route-add', replace: true, dst: `${endpoint.address}/32`, dev: options.hostAccess.link });
    const { gateway } = subnetHolding(network.subnets, endpoint.address);
    return { plan, info: gateway === undefined || network.internal ? {} : { defaultRoute: { via: gateway } } };
  }

  removeExternal(_network: DriverNetwork, endpoint: DriverEndpoint, live: HostLinkPresence): Plan {
    return removeExternalLink(endpoint, live);
  }

  leave(_network: DriverNetwork, netns: string, endpoint: DriverEndpoint, opts: { readonly sandboxGoing: boolean }): Plan {
    // With the namespace going, the link goes with it, but only when the kernel finally
    // tears the namespace down (asynchronously); until then an up macvlan link holds its
    // MAC on the parent, and the next container given the same address (and MAC) would
    // fail with EADDRINUSE. Taking it down releases the MAC at once (~0.5 ms; deleting it
    // costs an RCU grace period, 13-22 ms). A host-access route may stay: it leads to this
    // network, where the address belongs.
    return [{ kind: opts.sandboxGoing ? 'link-down' : 'link-del', netns, dev: endpoint.ifname }];
  }

  /**
   * A parent berth created and lost is made again (which takes nothing: its children died
   * with it and are re-created below); the host's link likewise; a running container's
   * endpoint missing from its namespace is joined again. A user's parent that is gone
   * cannot be repaired here: its endpoints stay down until it is back and the daemon restarts.
   */
  pathOf(network: DriverNetwork): EndpointPath {
    const { parent, mode, hostAccess } = macvlanOptionsOf(network.data);
    // Only bridge mode switches between a parent's children; private, vepa and passthru send every frame out.
    return { kind: 'lan', parent, mode, siblingsMeet: mode === 'bridge', ...(hostAccess ? { hostLink: hostAccess.link } : {}) };
  }

  repair(network: DriverNetwork, endpoints: readonly RecordedEndpoint[], live: KernelView): Plan {
    const options = macvlanOptionsOf(network.data);
    return repairOnParent(this, network, options, endpoints, live, () => repairHostAccess(network, options, endpoints, live));
  }
}

/** The host's link: made again when gone (with a route per running endpoint), or given its address and state back. */
function repairHostAccess(network: DriverNetwork, options: MacvlanOptions, endpoints: readonly RecordedEndpoint[], live: KernelView): KernelOp[] {
  if (!options.hostAccess) return [];
  const { link, address } = options.hostAccess;
  const shim = live.links.get(link);
  if (!shim) {
    const routes = endpoints.filter((e) => e.running).map((e): KernelOp => ({ kind: 'route-add', replace: true, dst: `${e.endpoint.address}/32`, dev: link }));
    return [...hostAccessPlan(network, options), ...routes];
  }
  const ops: KernelOp[] = [];
  if (!(live.addresses.get(link) ?? []).includes(`${address}/32`)) ops.push({ kind: 'addr-add', dev: link, cidr: `${address}/32` });
  if (!shim.up) ops.push({ kind: 'link-up', dev: link });
  return ops;
}

/** The host's own macvlan link on the parent (bridge mode), with its /32 address. */
function hostAccessPlan(network: DriverNetwork, options: MacvlanOptions): KernelOp[] {
  if (!options.hostAccess) return [];
  const { link, address } = options.hostAccess;
  return [
    { kind: 'macvlan-add', name: link, parent: options.parent, mode: 'bridge' },
    { kind: 'link-alias', dev: link, alias: ownerAlias(network.id) },
    { kind: 'addr-add', dev: link, cidr: `${address}/32` },
    { kind: 'link-up', dev: link },
  ];
}
