import { BerthError, ConflictError, InvalidArgumentError, NotFoundError, quotePrefix } from '../../common/errors.js';
import { broadcastOf, cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from '../../common/ipv4.js';
import { candidatesOf, checkUsableSubnet, firstFreeSubnet, routeClaimsSubnet } from '../../ipam/subnets.js';
import { poolOf } from '../../ipam/pool.js';
import { hostRoutes } from '../../kernel/read.js';
import type { EngineContext } from '../context.js';
import { hasAddresses, type AddressedNetwork } from '../model.js';

/**
 * berth as dockerd's IPAM plugin (IpamDriver.*): pools are subnets berth hands out and
 * checks against every berth network (and every other pool), so dockerd's networks and
 * berth's never overlap. A pool is a record of its own (with the gateway dockerd asked
 * for) until a berth network with its subnet exists; from then on its addresses are the
 * berth network's, allocated by berth's IPAM (cluster-wide for an overlay). For a network
 * of dockerd's own drivers (`-d bridge --ipam-driver berth`) no berth network ever comes,
 * and the pool hands out its addresses itself.
 */
export const POOL_ID_PREFIX = 'berth/';

interface PoolRecord {
  readonly subnet: string;
  readonly ipRange?: string;
  /** The gateway dockerd was given before the network existed. */
  readonly gateway?: string;
  /**
   * Addresses the pool handed out itself: while no berth network has its subnet (dockerd's
   * own drivers with `--ipam-driver berth`, and auxiliary addresses before the network).
   */
  readonly addresses?: readonly string[];
}

export interface PoolRequest {
  readonly pool?: string;
  readonly subPool?: string;
  readonly v6: boolean;
}

export class ExternalPools {
  private readonly pools = new Map<string, PoolRecord>();
  /** Endpoint addresses handed to dockerd that no endpoint took yet ("network id/address"). */
  private readonly handedOut = new Set<string>();

  constructor(private readonly ctx: EngineContext) {}

  async load(): Promise<void> {
    for (const s of await this.ctx.deps.store.list('external-pools')) {
      const v = s.value as Partial<PoolRecord> | null;
      if (!v || typeof v.subnet !== 'string') throw new BerthError('internal', `malformed IPAM pool record ${s.id}`);
      this.pools.set(v.subnet, v as PoolRecord);
    }
  }

  /** A pool: the subnet asked for, checked, or the next free one of the daemon's address pools. Asking again for a pool held gives it again. */
  async request(request: PoolRequest): Promise<{ poolId: string; pool: string }> {
    if (request.v6) throw new InvalidArgumentError("berth's IPAM serves IPv4 pools only", 'leave --ipv6 out, or use another IPAM driver for IPv6');
    if (request.subPool && !request.pool) throw new InvalidArgumentError('an ip range needs its subnet', 'give --subnet with --ip-range');
    const subnet = request.pool ? this.checkedSubnet(parseCidr(request.pool, { strict: true })) : this.freeSubnet();
    const key = formatCidr(subnet);
    let ipRange: string | undefined;
    if (request.subPool) {
      const range = parseCidr(request.subPool, { strict: true });
      if (range.prefixLength < subnet.prefixLength || !cidrContains(subnet, range.network)) throw new InvalidArgumentError(`ip range ${request.subPool} is outside subnet ${key}`, 'the range must be a part of the subnet');
      ipRange = formatCidr(range);
    }
    if (!this.pools.has(key)) await this.save({ subnet: key, ...(ipRange ? { ipRange } : {}) });
    return { poolId: `${POOL_ID_PREFIX}${key}`, pool: key };
  }

  /**
   * A subnet no berth network and no other pool overlaps, but for one case: exactly the
   * subnet of an overlay made through the plugin, which another host's dockerd asks for
   * to join it.
   */
  private checkedSubnet(subnet: Ipv4Cidr): Ipv4Cidr {
    checkUsableSubnet(subnet, 'subnet');
    const key = formatCidr(subnet);
    if (this.pools.has(key)) return subnet;
    const network = this.ctx.networks.all().filter(hasAddresses).find((n) => n.ipam.subnets.some((s) => cidrsOverlap(parseCidr(s.subnet), subnet)));
    if (network && !(network.scope === 'global' && network.ipam.subnets.some((s) => s.subnet === key))) {
      throw new ConflictError(`subnet ${key} overlaps berth network ${network.name} (${network.ipam.subnets.map((s) => s.subnet).join(', ')})`, 'choose a subnet no berth network uses, or leave --subnet out to get a free one');
    }
    const pool = [...this.pools.keys()].find((p) => cidrsOverlap(parseCidr(p), subnet));
    if (pool) throw new ConflictError(`subnet ${key} overlaps the pool ${pool} berth gave dockerd`, 'choose another subnet');
    return subnet;
  }

  private freeSubnet(): Ipv4Cidr {
    const taken = [
      ...this.ctx.networks.all().filter(hasAddresses).flatMap((n) => n.ipam.subnets.map((s) => parseCidr(s.subnet))),
      ...[...this.pools.keys()].map((p) => parseCidr(p)),
      ...hostRoutes().filter(routeClaimsSubnet).map((r) => r.subnet),
    ];
    return firstFreeSubnet(candidatesOf(this.ctx.config.defaultBridge.pools), taken, 'give one with --subnet, or more pools with berth daemon --default-address-pool base=CIDR,size=N');
  }

  /** An address of the pool, CIDR-formatted: the gateway, an auxiliary address, or an endpoint's. */
  async requestAddress(poolId: string, requested: string | undefined, isGateway: boolean): Promise<string> {
    const pool = this.get(poolId);
    const subnet = parseCidr(pool.subnet);
    const network = this.networkOf(pool);
    const cidr = (ip: string) => `${ip}/${subnet.prefixLength}`;
    if (network) {
      const gateway = network.ipam.subnets.find((s) => s.subnet === pool.subnet)?.gateway;
      if (isGateway && gateway !== undefined) return cidr(gateway);
      const address = await this.ctx.deps.ipam.allocate(network.id, requested);
      this.handedOut.add(`${network.id}/${address}`);
      return cidr(address);
    }
    if (isGateway) {
      // Before a berth network exists dockerd asks for its gateway: the network's create
      // reserves it; the pool remembers it until then.
      const ip = requested ?? formatIpv4(subnet.network + 1);
      const value = parseIpv4(ip);
      if (!cidrContains(subnet, value) || value === subnet.network || value === broadcastOf(subnet)) throw new InvalidArgumentError(`address ${ip} is not a usable address of subnet ${pool.subnet}`);
      await this.save({ ...pool, gateway: ip });
      return cidr(ip);
    }
    // No berth network has the subnet: the pool hands out addresses itself.
    const own = poolOf({ subnet: pool.subnet, ...(pool.gateway ? { gateway: pool.gateway } : {}), ...(pool.ipRange ? { ipRange: pool.ipRange } : {}), auxAddresses: {} });
    for (const held of pool.addresses ?? []) own.reserve(parseIpv4(held));
    let ip: number;
    if (requested === undefined) {
      ip = own.allocate();
    } else {
      ip = parseIpv4(requested);
      own.reserve(ip);
    }
    await this.save({ ...pool, addresses: [...(pool.addresses ?? []), formatIpv4(ip)] });
    return cidr(formatIpv4(ip));
  }

  /** Gives an endpoint's address back; the network's gateway and auxiliary addresses stay with the network. */
  async releaseAddress(poolId: string, address: string): Promise<void> {
    const pool = this.get(poolId);
    if (pool.addresses?.includes(address)) {
      await this.save({ ...pool, addresses: pool.addresses.filter((a) => a !== address) });
      return;
    }
    const network = this.networkOf(pool);
    const subnet = network?.ipam.subnets.find((s) => s.subnet === pool.subnet);
    if (!network || !subnet || subnet.gateway === address || Object.values(subnet.auxAddresses).includes(address)) return;
    this.handedOut.delete(`${network.id}/${address}`);
    await this.ctx.deps.ipam.release(network.id, address);
  }

  /**
   * Whether this plugin handed `address` out for an endpoint that is being made now; the
   * endpoint takes it (true once). An address held otherwise is another's: a conflict.
   */
  takeHandedOut(networkId: string, address: string): boolean {
    return this.handedOut.delete(`${networkId}/${address}`);
  }

  /** Forgets the pool once no berth network uses its subnet (dockerd releases it after removing its network, and after a create that failed). */
  async release(poolId: string): Promise<void> {
    const pool = this.pools.get(poolId.slice(POOL_ID_PREFIX.length));
    if (!pool || this.networkOf(pool)) return;
    await this.ctx.deps.store.delete('external-pools', storeKey(pool.subnet));
    this.pools.delete(pool.subnet);
  }

  private networkOf(pool: PoolRecord): AddressedNetwork | undefined {
    return this.ctx.networks.all().filter(hasAddresses).find((n) => n.ipam.subnets.some((s) => s.subnet === pool.subnet));
  }

  private get(poolId: string): PoolRecord {
    const pool = poolId.startsWith(POOL_ID_PREFIX) ? this.pools.get(poolId.slice(POOL_ID_PREFIX.length)) : undefined;
    if (!pool) throw new NotFoundError(`no IPAM pool ${quotePrefix(poolId)}`, 'pools are made by IpamDriver.RequestPool');
    return pool;
  }

  private async save(pool: PoolRecord): Promise<void> {
    await this.ctx.deps.store.put('external-pools', storeKey(pool.subnet), pool);
    this.pools.set(pool.subnet, pool);
  }
}

/** Store ids are file names: a subnet's slash becomes an underscore. */
function storeKey(subnet: string): string {
  return subnet.replace('/', '_');
}
