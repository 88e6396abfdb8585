import { NotFoundError } from '../common/errors.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { Ipam, IpamPoolConfig } from './ipam.js';
import { AddressPool } from './pool.js';

/** The allocator of one host: an AddressPool per network, in memory (the store's endpoints rebuild it at start). */
export class LocalIpam implements Ipam {
  private readonly pools = new Map<string, AddressPool>();

  addPool(networkId: string, config: IpamPoolConfig): Promise<void> {
    const aux = Object.fromEntries(Object.entries(config.auxAddresses).map(([k, ip]) => [k, parseIpv4(ip)]));
    const gateway = config.gateway === undefined ? undefined : parseIpv4(config.gateway);
    this.pools.set(networkId, new AddressPool(parseCidr(config.subnet), gateway, { range: config.ipRange === undefined ? undefined : parseCidr(config.ipRange), aux }));
    return Promise.resolve();
  }

  removePool(networkId: string): Promise<void> {
    this.pools.delete(networkId);
    return Promise.resolve();
  }

  allocate(networkId: string, requested?: string): Promise<string> {
    return attempt(() => {
      const pool = this.pool(networkId);
      if (requested === undefined) return formatIpv4(pool.allocate());
      pool.reserve(parseIpv4(requested));
      return requested;
    });
  }

  checkAllocatable(networkId: string, requested: string): Promise<void> {
    return attempt(() => this.pool(networkId).checkReservable(parseIpv4(requested)));
  }

  release(networkId: string, address: string): Promise<void> {
    this.pools.get(networkId)?.release(parseIpv4(address));
    return Promise.resolve();
  }

  private pool(networkId: string): AddressPool {
    const pool = this.pools.get(networkId);
    if (!pool) throw new NotFoundError(`network ${networkId} has no address pool`);
    return pool;
  }
}

/** Runs synchronous pool work, turning its throw into a rejection (callers await either way). */
function attempt<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
