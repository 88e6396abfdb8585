import { ConflictError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { cidrsOverlap, formatCidr, formatIpv4, parseCidr } from '../common/ipv4.js';
import { bridgeOf } from '../drivers/bridge/driver.js';
import { bridgeData } from '../drivers/bridge/options.js';
import { candidatesOf, firstFreeSubnet, type AddressPoolSpec } from '../ipam/subnets.js';
import type { HostRoute } from '../kernel/read.js';
import { firstSubnet, type AddressedNetwork } from './model.js';

/**
 * The built-in `bridge` network, from the daemon's flags as dockerd's: --bridge names the
 * Linux bridge, --bip its address, --default-address-pool where a subnet comes from.
 */
export interface DefaultBridgeOptions {
  readonly bridge: string;
  /** dockerd's --bip: the bridge's own address with prefix, e.g. "172.17.0.1/16". */
  readonly bip?: string;
  /** dockerd's --default-address-pool: where subnets come from when none is given. */
  readonly pools: readonly AddressPoolSpec[];
}

/**
 * The record of the default bridge. Without --bip it takes 172.17.0.0/16, or the next
 * default pool the host does not already route (ignoring routes of our own bridge, which
 * exist when the daemon restarts).
 */
export function defaultBridgeRecord(opts: DefaultBridgeOptions, routes: readonly HostRoute[], existing?: AddressedNetwork): AddressedNetwork {
  let subnet: string;
  let gateway: string;
  const existingBridge = existing ? bridgeOf(existing.driverData) : undefined;
  if (opts.bip) {
    const bip = parseCidr(opts.bip);
    subnet = formatCidr(bip);
    gateway = formatIpv4(bip.address);
  } else if (existing && existingBridge === opts.bridge) {
    return existing;
  } else {
    const taken = routes.filter((r) => r.dev !== opts.bridge).map((r) => r.subnet);
    const free = firstFreeSubnet(candidatesOf(opts.pools), taken);
    subnet = formatCidr(free);
    gateway = formatIpv4(free.network + 1);
  }
  if (existing && firstSubnet(existing).subnet === subnet && firstSubnet(existing).gateway === gateway && existingBridge === opts.bridge) return existing;
  return {
    id: existing?.id ?? newId(),
    name: 'bridge',
    driver: 'bridge',
    scope: 'local',
    created: existing?.created ?? new Date().toISOString(),
    internal: false,
    attachable: false,
    ipam: { subnets: [{ subnet, gateway, auxAddresses: {} }], userSubnet: opts.bip !== undefined },
    driverData: bridgeData({ bridge: opts.bridge, hostAccess: false }),
    options: {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.name': opts.bridge,
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
    },
    labels: {},
  };
}

/** Refuses a default bridge whose subnet a host route already claims (only with an explicit --bip). */
export function checkBipIsFree(record: AddressedNetwork, routes: readonly HostRoute[]): void {
  const { subnet: subnetText, gateway } = firstSubnet(record);
  const subnet = parseCidr(subnetText);
  const bridge = bridgeOf(record.driverData);
  const clash = routes.find((r) => r.dev !== bridge && cidrsOverlap(r.subnet, subnet));
  if (clash) {
    throw new ConflictError(
      `--bip ${gateway ?? ''} (${subnetText}) overlaps the host route ${formatCidr(clash.subnet)}${clash.dev ? ` on ${clash.dev}` : ''}`,
      'choose a subnet this host does not route',
    );
  }
}
