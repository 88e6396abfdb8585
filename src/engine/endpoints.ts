import { InvalidArgumentError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { formatIpv4, parseIpv4 } from '../common/ipv4.js';
import { hostVethName, macForAddress } from '../drivers/bridge.js';
import type { NetworkDriver } from '../drivers/driver.js';
import type { BridgeNetworkRecord, EndpointRecord, NetworkAttachment } from './model.js';
import { driverFor, networkSpec, type NetworkTable } from './networks.js';
import type { Plan } from '../kernel/ops.js';
import { sandboxName, sandboxUpPlan, type Attachment } from './sandbox.js';

/**
 * Takes an address from the network's pool (the static one asked for, or the lowest free)
 * and names the endpoint: `ifname` inside, a fresh veth name outside, the MAC asked for or
 * Docker's derived from the address.
 */
export function allocateEndpoint(
  networks: NetworkTable,
  attachment: NetworkAttachment,
  where: { readonly ifname: string; readonly gatewayEndpoint: boolean },
  takenHostNames: ReadonlySet<string>,
): EndpointRecord {
  const network = networks.bridgeById(attachment.networkId);
  const pool = networks.pool(network.id);
  let address: string;
  if (attachment.ipv4Address === undefined) {
    address = formatIpv4(pool.allocate());
  } else {
    pool.reserve(parseIpv4(attachment.ipv4Address));
    address = attachment.ipv4Address;
  }
  let hostIfname = hostVethName();
  while (takenHostNames.has(hostIfname)) hostIfname = hostVethName();
  return {
    id: newId(),
    networkId: network.id,
    ifname: where.ifname,
    hostIfname,
    address,
    prefixLength: pool.subnet.prefixLength,
    mac: attachment.macAddress ?? macForAddress(address),
    gateway: network.gateway,
    gatewayEndpoint: where.gatewayEndpoint,
  };
}

export function releaseEndpoint(networks: NetworkTable, endpoint: EndpointRecord): void {
  networks.pool(endpoint.networkId).release(parseIpv4(endpoint.address));
}

/** eth0, eth1, ...: the lowest index no endpoint of the sandbox uses. */
export function nextIfname(endpoints: readonly Pick<EndpointRecord, 'ifname'>[]): string {
  let index = 0;
  while (endpoints.some((e) => e.ifname === `eth${index}`)) index++;
  return `eth${index}`;
}

/**
 * Allocates endpoints for every attachment, in order. The first on a network that is not
 * internal carries the default route (an internal network has no way out to route to).
 * All or nothing: on an error the addresses taken so far are given back.
 */
export function allocateEndpoints(networks: NetworkTable, attachments: readonly NetworkAttachment[], takenHostNames: ReadonlySet<string>): EndpointRecord[] {
  const out: EndpointRecord[] = [];
  const taken = new Set(takenHostNames);
  try {
    for (const attachment of attachments) {
      const network = networks.bridgeById(attachment.networkId);
      const gatewayEndpoint = !network.internal && !out.some((e) => e.gatewayEndpoint);
      const ep = allocateEndpoint(networks, attachment, { ifname: nextIfname(out), gatewayEndpoint }, taken);
      taken.add(ep.hostIfname);
      out.push(ep);
    }
  } catch (err) {
    for (const ep of out) releaseEndpoint(networks, ep);
    throw err;
  }
  return out;
}

/** Pairs each endpoint with its network and driver. */
export function attachmentsFor(
  networks: NetworkTable,
  drivers: ReadonlyMap<string, NetworkDriver>,
  endpoints: readonly EndpointRecord[],
): Attachment[] {
  return endpoints.map((ep) => {
    const network: BridgeNetworkRecord | undefined = networks.bridges().find((n) => n.id === ep.networkId);
    if (!network) throw new InvalidArgumentError(`endpoint ${ep.id} refers to unknown network ${ep.networkId}`);
    return {
      network: networkSpec(network),
      driver: driverFor(drivers, network),
      endpoint: { ...ep, isGatewayEndpoint: ep.gatewayEndpoint },
    };
  });
}

/**
 * The plan `run` would apply for a new container with these attachments (none: a sandbox
 * with lo only), and its endpoints, computed without changing anything: the addresses are
 * taken and given back.
 */
export function planNewContainer(
  networks: NetworkTable,
  drivers: ReadonlyMap<string, NetworkDriver>,
  attachments: readonly NetworkAttachment[],
  takenHostNames: ReadonlySet<string>,
  containerId = newId(),
): { plan: Plan; endpoints: EndpointRecord[] } {
  const endpoints = allocateEndpoints(networks, attachments, takenHostNames);
  for (const ep of endpoints) releaseEndpoint(networks, ep);
  return { plan: sandboxUpPlan(sandboxName(containerId), attachmentsFor(networks, drivers, endpoints), { createNetns: true }), endpoints };
}
