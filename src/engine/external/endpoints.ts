import { randomHex } from '../../common/random-hex.js';
import { BerthError, InvalidArgumentError, NotFoundError, quotePrefix } from '../../common/errors.js';
import { cidrContains, parseCidr, parseIpv4 } from '../../common/ipv4.js';
import type { PortMapping } from '../../common/portspec.js';
import { subnetHolding, type JoinInfo, type TakenNames } from '../../drivers/driver.js';
import { hostLinkPresence } from '../../kernel/view.js';
import type { EngineContext } from '../context.js';
import { driverEndpoint } from '../endpoints.js';
import type { AddressedNetwork, EndpointRecord } from '../model.js';
import { driverNetwork } from '../networks.js';
import type { PublishedPort } from '../ports.js';
import { inTransaction } from '../transaction.js';

/**
 * Endpoints of sandboxes another runtime owns: dockerd's containers on berth networks, berth
 * being dockerd's network plugin (src/plugin/). libnetwork drives them in this order:
 * create (an address and names), join (the link made in the host namespace; dockerd moves
 * it into its sandbox, renames and addresses it), external connectivity (published ports),
 * its revocation, leave, delete. berth holds each one's address in its IPAM, its links and
 * its ports in its firewall model, so network inspect, port allocation and reconcile see
 * them like its own containers' endpoints.
 */
export interface ExternalEndpointRecord {
  /** The endpoint as berth's own are recorded; its id is the runtime's endpoint id. */
  readonly endpoint: EndpointRecord;
  /**
   * The address came from berth's IPAM plugin, which the runtime tells to release it;
   * otherwise (dockerd's own IPAM chose it) berth reserved it here and releases it at delete.
   */
  readonly addressFromPlugin: boolean;
  /** The runtime's sandbox (its network namespace path) while joined. */
  readonly sandboxKey?: string;
  readonly ports: readonly PublishedPort[];
}

export interface ExternalJoin {
  /** The link the runtime moves into its sandbox. */
  readonly linkName: string;
  readonly info: JoinInfo;
}

/** What the runtime asked for: its IPAM's address (CIDR) and a MAC, either may be absent. */
export interface ExternalEndpointRequest {
  readonly address?: string;
  readonly mac?: string;
}

/** The in-memory table of external endpoints, read by the port publisher and the views. */
export class ExternalEndpointTable {
  private readonly byId = new Map<string, ExternalEndpointRecord>();

  all(): ExternalEndpointRecord[] {
    return [...this.byId.values()];
  }

  get(id: string): ExternalEndpointRecord | undefined {
    return this.byId.get(id);
  }

  set(record: ExternalEndpointRecord): void {
    this.byId.set(record.endpoint.id, record);
  }

  remove(id: string): void {
    this.byId.delete(id);
  }

  onNetwork(networkId: string): ExternalEndpointRecord[] {
    return this.all().filter((r) => r.endpoint.networkId === networkId);
  }
}

/** The sandbox-side link's name while it is in the host namespace: unique there, at most 15 characters. */
function handOverName(): string {
  return `bx${randomHex(10)}`;
}

/** The engine's side of another runtime's endpoints. Every method runs inside the engine's operation queue. */
export class ExternalEndpoints {
  constructor(
    private readonly ctx: EngineContext,
    /** Whether berth's IPAM plugin handed this address out for the endpoint being made (it holds it already). */
    private readonly handedOutByPlugin: (networkId: string, address: string) => boolean,
  ) {}

  private get table(): ExternalEndpointTable {
    return this.ctx.external;
  }

  /** Every record from the store, into the table (reconcile reserves their addresses and ports). */
  async load(): Promise<ExternalEndpointRecord[]> {
    const records = (await this.ctx.deps.store.list('external-endpoints')).map((s) => parseExternalEndpoint(s.value));
    for (const r of records) this.table.set(r);
    return records;
  }

  async create(network: AddressedNetwork, id: string, request: ExternalEndpointRequest): Promise<ExternalEndpointRecord> {
    const existing = this.table.get(id);
    if (existing) return existing;
    const driver = this.ctx.networks.driverOf(network);
    if (!driver.joinExternal) throw new InvalidArgumentError(`the ${driver.name} driver cannot serve another runtime's containers`);
    const { address, addressFromPlugin } = await this.takeAddress(network, request.address);
    const { ipam } = this.ctx.deps;
    try {
      const subnet = subnetHolding(network.ipam.subnets, address);
      const external = new Set(this.table.all().flatMap((r) => (r.endpoint.hostIfname === undefined ? [] : [r.endpoint.hostIfname])));
      const taken: TakenNames = { has: (name) => external.has(name) || this.ctx.containers.takenHostIfnames().has(name) };
      const names = driver.createEndpoint(driverNetwork(network), { ifname: handOverName(), address, ...(request.mac ? { mac: request.mac } : {}), takenHostNames: taken });
      const record: ExternalEndpointRecord = {
        endpoint: { id, networkId: network.id, ...names, address, prefixLength: parseCidr(subnet.subnet).prefixLength, gateway: subnet.gateway ?? '', gatewayEndpoint: false },
        addressFromPlugin,
        ports: [],
      };
      await this.save(record);
      return record;
    } catch (err) {
      if (!addressFromPlugin) await ipam.release(network.id, address);
      throw err;
    }
  }

  /**
   * The runtime's address is reserved here (an address another endpoint holds, on this
   * host or another, is a conflict), unless berth's IPAM plugin handed it out for this
   * endpoint (then it is held already). Without one, berth's IPAM chooses.
   */
  private async takeAddress(network: AddressedNetwork, cidr: string | undefined): Promise<{ address: string; addressFromPlugin: boolean }> {
    const { ipam } = this.ctx.deps;
    if (cidr === undefined || cidr === '') return { address: await ipam.allocate(network.id), addressFromPlugin: false };
    const address = cidr.split('/')[0]!;
    const ip = parseIpv4(address);
    if (!network.ipam.subnets.some((s) => cidrContains(parseCidr(s.subnet), ip))) {
      throw new InvalidArgumentError(`address ${cidr} is outside network ${network.name} (${network.ipam.subnets.map((s) => s.subnet).join(', ')})`);
    }
    if (this.handedOutByPlugin(network.id, address)) return { address, addressFromPlugin: true };
    await ipam.allocate(network.id, address);
    return { address, addressFromPlugin: false };
  }

  async join(id: string, sandboxKey: string): Promise<ExternalJoin> {
    const record = this.get(id);
    const network = this.ctx.networks.addressedById(record.endpoint.networkId);
    const joined = this.ctx.networks.driverOf(network).joinExternal!(driverNetwork(network), driverEndpoint(record.endpoint));
    await inTransaction(this.ctx.deps.executor, async (tx) => {
      await tx.apply(joined.plan);
      await this.save({ ...record, sandboxKey });
    });
    return { linkName: record.endpoint.ifname, info: joined.info };
  }

  /** The runtime took the link out of its sandbox; it goes with the endpoint (remove). */
  async leave(id: string): Promise<void> {
    const record = this.get(id);
    if (record.ports.length > 0) await this.revokePorts(id);
    const { sandboxKey: _left, ...rest } = this.get(id);
    await this.save(rest);
  }

  /** Deletes the endpoint's links (wherever the runtime left them), its record, and the address berth reserved. Removing one that is gone succeeds. */
  async remove(id: string): Promise<void> {
    const record = this.table.get(id);
    if (!record) return;
    if (record.ports.length > 0) await this.revokePorts(id);
    const network = this.ctx.networks.addressedById(record.endpoint.networkId);
    const driver = this.ctx.networks.driverOf(network);
    await this.ctx.deps.executor.apply(driver.removeExternal?.(driverNetwork(network), driverEndpoint(record.endpoint), hostLinkPresence()) ?? []);
    await this.ctx.deps.store.delete('external-endpoints', id);
    this.table.remove(id);
    if (!record.addressFromPlugin) await this.ctx.deps.ipam.release(network.id, record.endpoint.address);
  }

  /** Publishes host ports to the endpoint through berth's firewall (dockerd's -p on a berth network). */
  async publishPorts(id: string, mappings: readonly PortMapping[]): Promise<readonly PublishedPort[]> {
    const record = this.get(id);
    if (record.ports.length > 0) await this.revokePorts(id);
    const network = this.ctx.networks.addressedById(record.endpoint.networkId);
    if (!this.ctx.networks.publishesPorts(network)) {
      if (mappings.length === 0) return [];
      throw new InvalidArgumentError(`network ${network.name} (${network.driver}) does not publish ports`, 'publish ports on a bridge network');
    }
    const ports = await this.ctx.ports.allocate(mappings);
    await inTransaction(this.ctx.deps.executor, async (tx) => {
      await tx.apply(this.ctx.ports.publishPlan(`endpoint ${id.slice(0, 12)}`, record.endpoint, ports));
      await this.save({ ...this.get(id), ports });
    });
    return ports;
  }

  async revokePorts(id: string): Promise<void> {
    const record = this.get(id);
    await this.ctx.ports.unpublishPorts(id, `endpoint ${id.slice(0, 12)}`, record.ports.map((p) => ({ ...p, containerIp: record.endpoint.address })));
    await this.save({ ...record, ports: [] });
  }

  find(id: string): ExternalEndpointRecord | undefined {
    return this.table.get(id);
  }

  private get(id: string): ExternalEndpointRecord {
    const record = this.table.get(id);
    if (!record) throw new NotFoundError(`no endpoint ${quotePrefix(id)}`);
    return record;
  }

  private async save(record: ExternalEndpointRecord): Promise<void> {
    await this.ctx.deps.store.put('external-endpoints', record.endpoint.id, record);
    this.table.set(record);
  }
}

/** A stored record, checked: the store is data entering the program. */
export function parseExternalEndpoint(value: unknown): ExternalEndpointRecord {
  const v = value as Partial<ExternalEndpointRecord> | null;
  const ep = v?.endpoint;
  if (!v || typeof v !== 'object' || !ep || typeof ep.id !== 'string' || typeof ep.networkId !== 'string' || typeof ep.address !== 'string' || typeof ep.ifname !== 'string' || !Array.isArray(v.ports)) {
    throw new BerthError('internal', `malformed external endpoint record: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return { endpoint: ep, addressFromPlugin: v.addressFromPlugin === true, ports: v.ports, ...(typeof v.sandboxKey === 'string' ? { sandboxKey: v.sandboxKey } : {}) };
}
