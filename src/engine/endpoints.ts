import { InvalidArgumentError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { parseCidr } from '../common/ipv4.js';
import { subnetHolding, type DriverEndpoint, type TakenNames } from '../drivers/driver.js';
import type { Ipam } from '../ipam/ipam.js';
import type { EndpointRecord, NetworkAttachment } from './model.js';
import { driverNetwork, type NetworkTable } from './networks.js';
import type { Attachment } from './sandbox.js';

/**
 * Makes an endpoint: an address from IPAM (the static one asked for, or the lowest free),
 * then the names and MAC from the network's driver (the engine chooses neither).
 */
export async function allocateEndpoint(
  networks: NetworkTable,
  ipam: Ipam,
  attachment: NetworkAttachment,
  where: { readonly ifname: string; readonly gatewayEndpoint: boolean },
  takenHostNames: TakenNames,
): Promise<EndpointRecord> {
  const network = networks.addressedById(attachment.networkId);
  const address = await ipam.allocate(network.id, attachment.ipv4Address);
  try {
    const subnet = subnetHolding(network.ipam.subnets, address);
    const names = networks.driverOf(network).createEndpoint(driverNetwork(network), { ifname: where.ifname, address, mac: attachment.macAddress, takenHostNames });
    return {
      id: newId(),
      networkId: network.id,
      ...names,
      address,
      // Its subnet's, when the network has several.
      prefixLength: parseCidr(subnet.subnet).prefixLength,
      gateway: subnet.gateway ?? '',
      gatewayEndpoint: where.gatewayEndpoint,
    };
  } catch (err) {
    await ipam.release(network.id, address);
    throw err;
  }
}

export function releaseEndpoint(ipam: Ipam, endpoint: EndpointRecord): Promise<void> {
  return ipam.release(endpoint.networkId, endpoint.address);
}

/** eth0, eth1, ...: the lowest index no endpoint of the sandbox uses. */
export function nextIfname(endpoints: readonly Pick<EndpointRecord, 'ifname'>[]): string {
  let index = 0;
  while (endpoints.some((e) => e.ifname === `eth${index}`)) index++;
  return `eth${index}`;
}

/**
 * Allocates endpoints for every attachment, in order. The first on a network that leads
 * out carries the default route (an internal network has no way out to route to, an
 * overlay none on this host).
 * All or nothing: on an error the addresses taken so far are given back.
 */
export async function allocateEndpoints(networks: NetworkTable, ipam: Ipam, attachments: readonly NetworkAttachment[], takenHostNames: TakenNames): Promise<EndpointRecord[]> {
  const out: EndpointRecord[] = [];
  // This container's own new names, beside those in use (a live index: not copied per start).
  const mine = new Set<string>();
  const taken: TakenNames = { has: (name) => mine.has(name) || takenHostNames.has(name) };
  try {
    for (const attachment of attachments) {
      const network = networks.addressedById(attachment.networkId);
      const gatewayEndpoint = networks.leadsOut(network) && !out.some((e) => e.gatewayEndpoint);
      const ep = await allocateEndpoint(networks, ipam, attachment, { ifname: nextIfname(out), gatewayEndpoint }, taken);
      if (ep.hostIfname !== undefined) mine.add(ep.hostIfname);
      out.push(ep);
    }
  } catch (err) {
    for (const ep of out) await releaseEndpoint(ipam, ep);
    throw err;
  }
  return out;
}

export function driverEndpoint(ep: EndpointRecord): DriverEndpoint {
  return {
    id: ep.id,
    ifname: ep.ifname,
    address: ep.address,
    prefixLength: ep.prefixLength,
    ...(ep.hostIfname !== undefined ? { hostIfname: ep.hostIfname } : {}),
    ...(ep.mac !== undefined ? { mac: ep.mac } : {}),
  };
}

/** Pairs each endpoint with its network and driver. */
export function attachmentsFor(networks: NetworkTable, endpoints: readonly EndpointRecord[]): Attachment[] {
  return endpoints.map((ep) => {
    const network = networks.byIdExact(ep.networkId);
    if (!network || network.ipam === undefined) throw new InvalidArgumentError(`endpoint ${ep.id} refers to unknown network ${ep.networkId}`);
    return { network: driverNetwork(networks.addressedById(network.id)), driver: networks.driverOf(network), endpoint: driverEndpoint(ep), gatewayEndpoint: ep.gatewayEndpoint };
  });
}
