import { builtinDrivers } from '../../src/drivers/registry.js';
import { ContainerTable } from '../../src/engine/containers.js';
import { defaultBridgeRecord } from '../../src/engine/default-bridge.js';
import type { AddressedNetwork, NetworkRecord } from '../../src/engine/model.js';
import { newNetwork, type CreateNetworkRequest, type NetworkCreateContext } from '../../src/engine/network-create.js';
import { NetworkTable, nullNetworkRecord } from '../../src/engine/networks.js';
import { LocalIpam } from '../../src/ipam/local.js';
import { DOCKER_DEFAULT_POOLS } from '../../src/ipam/subnets.js';
import { ALL_FEATURES } from '../../src/kernel/features.js';
import { viewOf } from '../../src/kernel/view.js';

/**
 * Engine tables for unit tests: the drivers on a kernel with every link kind (unless told
 * otherwise), the built-in networks, and a host with lo, uplink0 and berth0.
 */
export const TEST_DRIVERS = builtinDrivers(ALL_FEATURES);

export const TEST_LIVE = viewOf([{ name: 'lo' }, { name: 'uplink0', kind: 'veth' }, { name: 'berth0', kind: 'bridge' }]);

export function builtinNetworks(): NetworkRecord[] {
  return [defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, []), nullNetworkRecord('host'), nullNetworkRecord('none')];
}

export function createContext(existing: readonly NetworkRecord[], over: Partial<NetworkCreateContext> = {}): NetworkCreateContext {
  return { existing, routes: [], nameservers: [], pools: DOCKER_DEFAULT_POOLS, drivers: TEST_DRIVERS, live: TEST_LIVE, ...over };
}

export function networkRequest(over: Partial<CreateNetworkRequest> = {}): CreateNetworkRequest {
  return { name: 'bridge2', driver: 'bridge', internal: false, attachable: false, labels: {}, options: {}, ipam: [], ...over };
}

/** The engine's network table and IPAM with the built-in networks, and a helper to add networks as `network create` does. */
export async function engineTables() {
  const networks = new NetworkTable(TEST_DRIVERS);
  const ipam = new LocalIpam();
  const containers = new ContainerTable();
  const add = async (record: NetworkRecord) => {
    networks.add(record);
    if (record.ipam) await ipam.addPool(record.id, record.ipam.subnets);
  };
  for (const n of builtinNetworks()) await add(n);
  const create = async (request: Partial<CreateNetworkRequest>): Promise<AddressedNetwork> => {
    const record = newNetwork(networkRequest(request), createContext(networks.all()));
    await add(record);
    return record;
  };
  return { networks, ipam, containers, create };
}
