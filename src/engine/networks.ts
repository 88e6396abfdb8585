import { ConflictError, NotFoundError, quotePrefix } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { NetworkDriver, NetworkSpec } from '../drivers/driver.js';
import type { FirewallModel, FirewallPort } from '../firewall/model.js';
import { AddressPool } from '../ipam/pool.js';
import { candidatesOf, firstFreeSubnet, type AddressPoolSpec } from '../ipam/subnets.js';
import type { HostRoute } from '../kernel/read.js';
import { isBridgeNetwork, type BridgeNetworkRecord, type NetworkRecord, type NullNetworkRecord } from './model.js';

/**
 * The networks the engine knows, bridge networks each with its address pool. Lookups
 * accept a name, a full id or an unambiguous id prefix, as Docker's do.
 */
export class NetworkTable {
  private readonly byId = new Map<string, NetworkRecord>();
  private readonly pools = new Map<string, AddressPool>();
  /** Bumped by every change, so views derived from the table (DNS names) know when to rebuild. */
  version = 0;

  add(record: NetworkRecord): void {
    if (isBridgeNetwork(record)) this.pools.set(record.id, poolFor(record));
    this.byId.set(record.id, record);
    this.version++;
  }

  remove(id: string): void {
    this.byId.delete(id);
    this.pools.delete(id);
    this.version++;
  }

  all(): NetworkRecord[] {
    return [...this.byId.values()];
  }

  bridges(): BridgeNetworkRecord[] {
    return this.all().filter(isBridgeNetwork);
  }

  byIdExact(id: string): NetworkRecord | undefined {
    return this.byId.get(id);
  }

  find(ref: string): NetworkRecord | undefined {
    const entries = this.all();
    return entries.find((n) => n.name === ref) ?? this.byId.get(ref) ?? uniquePrefixMatch(entries, ref);
  }

  get(ref: string): NetworkRecord {
    const found = this.find(ref);
    if (!found) throw new NotFoundError(`network "${quotePrefix(ref)}" not found`, 'list networks with: berth network ls');
    return found;
  }

  bridgeById(id: string): BridgeNetworkRecord {
    const n = this.byId.get(id);
    if (!n || !isBridgeNetwork(n)) throw new NotFoundError(`bridge network ${id} not found`);
    return n;
  }

  pool(id: string): AddressPool {
    const pool = this.pools.get(id);
    if (!pool) throw new NotFoundError(`network ${id} not found`);
    return pool;
  }

  /** The firewall's desired state: these networks, and the ports published on them. */
  firewallModel(ports: readonly FirewallPort[]): FirewallModel {
    return { networks: this.bridges().map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal })), ports };
  }
}

function poolFor(n: BridgeNetworkRecord): AddressPool {
  const aux = Object.fromEntries(Object.entries(n.auxAddresses).map(([k, ip]) => [k, parseIpv4(ip)]));
  return new AddressPool(parseCidr(n.subnet), parseIpv4(n.gateway), { range: n.ipRange === undefined ? undefined : parseCidr(n.ipRange), aux });
}

function uniquePrefixMatch(entries: NetworkRecord[], ref: string): NetworkRecord | undefined {
  if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
  const matches = entries.filter((n) => n.id.startsWith(ref));
  if (matches.length > 1) throw new ConflictError(`network id prefix "${quotePrefix(ref)}" is ambiguous: it matches ${matches.map((m) => m.name).join(', ')}`);
  return matches[0];
}

export function networkSpec(record: BridgeNetworkRecord): NetworkSpec {
  return { id: record.id, name: record.name, bridge: record.bridge, subnet: record.subnet, gateway: record.gateway, mtu: record.mtu };
}

/** The records of the built-in `host` and `none` networks, made once and then kept with their ids. */
export function nullNetworkRecord(name: 'host' | 'none'): NullNetworkRecord {
  return {
    id: newId(),
    name,
    driver: name === 'host' ? 'host' : 'null',
    created: new Date().toISOString(),
    internal: false,
    attachable: false,
    options: {},
    labels: {},
  };
}

export interface DefaultBridgeOptions {
  readonly bridge: string;
  /** dockerd's --bip: the bridge's own address with prefix, e.g. "172.17.0.1/16". */
  readonly bip?: string;
  /** dockerd's --default-address-pool: where subnets come from when none is given. */
  readonly pools: readonly AddressPoolSpec[];
}

/**
 * The record of the built-in `bridge` network. Without --bip it takes 172.17.0.0/16, or the
 * next default pool the host does not already route (ignoring routes of our own bridge,
 * which exist when the daemon restarts).
 */
export function defaultBridgeRecord(opts: DefaultBridgeOptions, routes: readonly HostRoute[], existing?: BridgeNetworkRecord): BridgeNetworkRecord {
  let subnet: string;
  let gateway: string;
  if (opts.bip) {
    const bip = parseCidr(opts.bip);
    subnet = formatCidr(bip);
    gateway = formatIpv4(bip.address);
  } else if (existing && existing.bridge === opts.bridge) {
    return existing;
  } else {
    const taken = routes.filter((r) => r.dev !== opts.bridge).map((r) => r.subnet);
    const free = firstFreeSubnet(candidatesOf(opts.pools), taken);
    subnet = formatCidr(free);
    gateway = formatIpv4(free.network + 1);
  }
  if (existing && existing.subnet === subnet && existing.gateway === gateway && existing.bridge === opts.bridge) return existing;
  return {
    id: existing?.id ?? newId(),
    name: 'bridge',
    driver: 'bridge',
    created: existing?.created ?? new Date().toISOString(),
    bridge: opts.bridge,
    subnet,
    gateway,
    internal: false,
    attachable: false,
    auxAddresses: {},
    userSubnet: opts.bip !== undefined,
    options: {
      'com.docker.network.bridge.default_bridge': 'true',
      'com.docker.network.bridge.name': opts.bridge,
      'com.docker.network.bridge.enable_ip_masquerade': 'true',
    },
    labels: {},
  };
}

/** Refuses a default bridge whose subnet a host route already claims (only with an explicit --bip). */
export function checkBipIsFree(record: BridgeNetworkRecord, routes: readonly HostRoute[]): void {
  const subnet = parseCidr(record.subnet);
  const clash = routes.find((r) => r.dev !== record.bridge && cidrsOverlap(r.subnet, subnet));
  if (clash) {
    throw new ConflictError(
      `--bip ${record.gateway} (${record.subnet}) overlaps the host route ${formatCidr(clash.subnet)}${clash.dev ? ` on ${clash.dev}` : ''}`,
      'choose a subnet this host does not route',
    );
  }
}

export function driverFor(drivers: ReadonlyMap<string, NetworkDriver>, record: BridgeNetworkRecord): NetworkDriver {
  const driver = drivers.get(record.driver);
  if (!driver) throw new NotFoundError(`network driver "${record.driver}" not found`);
  return driver;
}

