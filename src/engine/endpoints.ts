import { InvalidArgumentError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { formatIpv4, parseIpv4 } from '../common/ipv4.js';
import { hostVethName, macForAddress } from '../drivers/bridge.js';
import type { NetworkDriver } from '../drivers/driver.js';
import type { EndpointRecord, NetworkRecord } from './model.js';
import { driverFor, networkSpec, type NetworkTable } from './networks.js';
import type { Plan } from '../kernel/ops.js';
import { sandboxName, sandboxUpPlan, type Attachment } from './sandbox.js';

/**
 * Takes an address from the network's pool and names the endpoint: eth<index> inside,
 * a fresh veth name outside, Docker's MAC derived from the address.
 */
export function allocateEndpoint(
  networks: NetworkTable,
  network: NetworkRecord,
  index: number,
  takenHostNames: ReadonlySet<string>,
): EndpointRecord {
  const pool = networks.pool(network.id);
  const address = formatIpv4(pool.allocate());
  let hostIfname = hostVethName();
  while (takenHostNames.has(hostIfname)) hostIfname = hostVethName();
  return {
    id: newId(),
    networkId: network.id,
    ifname: `eth${index}`,
    hostIfname,
    address,
    prefixLength: pool.subnet.prefixLength,
    mac: macForAddress(address),
    gateway: network.gateway,
  };
}

export function releaseEndpoint(networks: NetworkTable, endpoint: EndpointRecord): void {
  networks.pool(endpoint.networkId).release(parseIpv4(endpoint.address));
}

/** Pairs each endpoint with its network and driver; the first endpoint carries the default route. */
export function attachmentsFor(
  networks: NetworkTable,
  drivers: ReadonlyMap<string, NetworkDriver>,
  endpoints: readonly EndpointRecord[],
): Attachment[] {
  return endpoints.map((ep, index) => {
    const network = networks.all().find((n) => n.id === ep.networkId);
    if (!network) throw new InvalidArgumentError(`endpoint ${ep.id} refers to unknown network ${ep.networkId}`);
    return {
      network: networkSpec(network),
      driver: driverFor(drivers, network),
      endpoint: { ...ep, isGatewayEndpoint: index === 0 },
    };
  });
}

/**
 * The plan `run` would apply for a new container on `network`, and the endpoint it would
 * get, computed without changing anything: the address is taken and given back.
 */
export function planNewContainer(
  networks: NetworkTable,
  drivers: ReadonlyMap<string, NetworkDriver>,
  network: NetworkRecord,
  takenHostNames: ReadonlySet<string>,
  containerId = newId(),
): { plan: Plan; endpoint: EndpointRecord } {
  const endpoint = allocateEndpoint(networks, network, 0, takenHostNames);
  releaseEndpoint(networks, endpoint);
  return { plan: sandboxUpPlan(sandboxName(containerId), attachmentsFor(networks, drivers, [endpoint]), { createNetns: true }), endpoint };
}
