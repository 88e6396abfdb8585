import { ChangeCounter } from '../common/change-counter.js';
import { ConflictError, NotFoundError, quotePrefix } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { DriverNetwork, NetworkDriver } from '../drivers/driver.js';
import type { DriverRegistry } from '../drivers/registry.js';
import type { FirewallModel, FirewallPort } from '../firewall/model.js';
import { hasAddresses, isUserDefined, type AddressedNetwork, type NetworkRecord } from './model.js';

/**
 * The networks the engine knows, with the driver of each. Lookups accept a name, a full id
 * or an unambiguous id prefix, as Docker's do. Addresses live in IPAM, not here.
 */
export class NetworkTable {
  private readonly byId = new Map<string, NetworkRecord>();
  /** Counts every change, so views derived from the table (DNS names) know when to rebuild. */
  readonly changes = new ChangeCounter();

  constructor(readonly drivers: DriverRegistry) {}

  add(record: NetworkRecord): void {
    this.byId.set(record.id, record);
    this.changes.bump();
  }

  remove(id: string): void {
    this.byId.delete(id);
    this.changes.bump();
  }

  all(): NetworkRecord[] {
    return [...this.byId.values()];
  }

  /** Every network with addresses (all but host and none). */
  addressed(): AddressedNetwork[] {
    return this.all().filter(hasAddresses);
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

  /** A network endpoints can be on, by exact id. */
  addressedById(id: string): AddressedNetwork {
    const n = this.byId.get(id);
    if (!n || !hasAddresses(n)) throw new NotFoundError(`network ${id} not found`);
    return n;
  }

  driverOf(network: NetworkRecord): NetworkDriver {
    return this.drivers.get(network.driver);
  }

  /** Whether the embedded DNS resolver serves names on `network` (user-defined networks of drivers that have it). */
  servesNames(network: NetworkRecord | undefined): network is AddressedNetwork {
    // The gateway bridge is only a way out: no names, as Docker's docker_gwbridge.
    return isUserDefined(network) && network.name !== GATEWAY_BRIDGE && this.driverOf(network).capabilities.embeddedDns;
  }

  /** Whether an endpoint on `network` can carry the sandbox's default route and published ports. */
  leadsOut(network: NetworkRecord): boolean {
    return !network.internal && this.driverOf(network).capabilities.routesOut;
  }

  /** Whether a container on `network` goes out through the gateway bridge: it wants a way out its driver cannot give (an overlay). */
  exitsThroughGatewayBridge(network: NetworkRecord): boolean {
    return !network.internal && !this.driverOf(network).capabilities.routesOut;
  }

  /** Whether `-p` can publish ports to endpoints on `network`. */
  publishesPorts(network: NetworkRecord): boolean {
    return !network.internal && this.driverOf(network).capabilities.publishesPorts;
  }

  /** The firewall's desired state: what each network's driver contributes, and the published ports. */
  firewallModel(ports: readonly FirewallPort[]): FirewallModel {
    const networks = this.addressed().flatMap((n) => {
      const driver = this.driverOf(n);
      return driver.firewall ? [driver.firewall(driverNetwork(n))] : [];
    });
    return { networks, ports };
  }
}

/** The local bridge network that gives containers on overlay networks their way out (Docker: docker_gwbridge). */
export const GATEWAY_BRIDGE = 'berth_gwbridge';

/** What a driver is told about one of its networks. */
export function driverNetwork(record: AddressedNetwork): DriverNetwork {
  return { id: record.id, name: record.name, driver: record.driver, internal: record.internal, subnets: record.ipam.subnets, data: record.driverData };
}

function uniquePrefixMatch(entries: NetworkRecord[], ref: string): NetworkRecord | undefined {
  if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
  const matches = entries.filter((n) => n.id.startsWith(ref));
  if (matches.length > 1) throw new ConflictError(`network id prefix "${quotePrefix(ref)}" is ambiguous: it matches ${matches.map((m) => m.name).join(', ')}`);
  return matches[0];
}

/** The records of the built-in `host` and `none` networks, made once and then kept with their ids. */
export function nullNetworkRecord(name: 'host' | 'none'): NetworkRecord {
  return {
    id: newId(),
    name,
    driver: name === 'host' ? 'host' : 'null',
    scope: 'local',
    created: new Date().toISOString(),
    internal: false,
    attachable: false,
    options: {},
    labels: {},
    driverData: {},
  };
}
