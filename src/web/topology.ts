import type { Engine } from '../engine/engine.js';
import type { ContainerRecord } from '../engine/model.js';
import { parseNetworkMode } from '../engine/modes.js';

/**
 * What the topology page draws, from the engine's records: this host and the other hosts
 * of its cluster, the networks, each container with its interfaces (address, MAC, host
 * side) and published ports, other hosts' containers on overlay networks, and the VXLAN
 * tunnels to those hosts.
 */
export interface Topology {
  readonly host: { readonly name: string; readonly address?: string };
  readonly networks: readonly TopologyNetwork[];
  readonly containers: readonly TopologyContainer[];
  /** Containers of other hosts on this host's overlay networks. */
  readonly remote: readonly { readonly host: string; readonly network: string; readonly name: string; readonly address: string; readonly mac: string }[];
  readonly tunnels: readonly { readonly network: string; readonly to: string }[];
}

export interface TopologyNetwork {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly internal: boolean;
  readonly scope: string;
}

export interface TopologyContainer {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  /** bridge (its own namespace), host, none, or container:NAME. */
  readonly mode: string;
  readonly ports: readonly string[];
  readonly interfaces: readonly { readonly network: string; readonly ifname: string; readonly address: string; readonly mac: string; readonly hostIfname?: string }[];
}

export function topologyOf(engine: Engine, hostName: string): Topology {
  const networks = engine.networks.addressed().map((n) => ({
    id: n.id,
    name: n.name,
    driver: n.driver,
    subnet: n.ipam.subnets[0]?.subnet ?? '',
    gateway: n.ipam.subnets[0]?.gateway ?? '',
    internal: n.internal,
    scope: n.scope,
  }));
  const nameOf = (networkId: string) => engine.networks.byIdExact(networkId)?.name ?? networkId;
  const containers = engine.containers.all().map((c) => containerOf(c, nameOf, (id) => engine.containers.byIdExact(id)?.name ?? id));
  const remote = engine.remoteEndpoints().map((p) => ({ host: p.vtep, network: nameOf(p.network), name: p.containerName, address: p.address, mac: p.mac }));
  const tunnels = [...new Map(remote.map((r) => [`${r.network} ${r.host}`, { network: r.network, to: r.host }])).values()];
  const address = engine.clusterAddress();
  return { host: { name: hostName, ...(address ? { address } : {}) }, networks, containers, remote, tunnels };
}

function containerOf(c: ContainerRecord, networkName: (id: string) => string, containerName: (id: string) => string): TopologyContainer {
  const mode = parseNetworkMode(c.networkMode);
  return {
    id: c.id,
    name: c.name,
    status: c.state.status,
    mode: mode.kind === 'container' ? `container:${containerName(mode.container)}` : mode.kind,
    ports: c.ports.map((p) => `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}->${p.containerPort}/${p.protocol}`),
    interfaces: c.endpoints.map((e) => ({ network: networkName(e.networkId), ifname: e.ifname, address: e.address, mac: e.mac ?? '', ...(e.hostIfname ? { hostIfname: e.hostIfname } : {}) })),
  };
}

