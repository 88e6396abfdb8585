import { InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { cidrContains, formatIpv4, parseIpv4, type Ipv4 } from '../common/ipv4.js';
import type { Ipam, IpamPoolConfig } from './ipam.js';
import { poolOf, type AddressPool } from './pool.js';

/** The allocator of one host: AddressPools per network, in memory (the store's endpoints rebuild it at start). */
export class LocalIpam implements Ipam {
  private readonly pools = new Map<string, readonly AddressPool[]>();

  addPool(networkId: string, subnets: readonly IpamPoolConfig[]): Promise<void> {
    return attempt(() => {
      if (subnets.length === 0) throw new InvalidArgumentError(`network ${networkId} needs at least one subnet`);
      this.pools.set(networkId, subnets.map(poolOf));
    });
  }

  removePool(networkId: string): Promise<void> {
    this.pools.delete(networkId);
    return Promise.resolve();
  }

  allocate(networkId: string, requested?: string): Promise<string> {
    return attempt(() => {
      if (requested !== undefined) {
        const ip = parseIpv4(requested);
        this.poolHolding(networkId, ip).reserve(ip);
        return requested;
      }
      const pools = this.poolsOf(networkId);
      const withRoom = pools.find((p) => p.hasFree());
      // Every subnet full: the first one's error names its range and what to do.
      return formatIpv4((withRoom ?? pools[0]!).allocate());
    });
  }

  checkAllocatable(networkId: string, requested: string): Promise<void> {
    return attempt(() => {
      const ip = parseIpv4(requested);
      this.poolHolding(networkId, ip).checkReservable(ip);
    });
  }

  release(networkId: string, address: string): Promise<void> {
    const ip = parseIpv4(address);
    this.pools.get(networkId)?.find((p) => cidrContains(p.subnet, ip))?.release(ip);
    return Promise.resolve();
  }

  private poolsOf(networkId: string): readonly AddressPool[] {
    const pools = this.pools.get(networkId);
    if (!pools) throw new NotFoundError(`network ${networkId} has no address pool`);
    return pools;
  }

  /** The subnet an address belongs to; a network's subnets never overlap. */
  private poolHolding(networkId: string, ip: Ipv4): AddressPool {
    const pools = this.poolsOf(networkId);
    // With one subnet, its own error says which addresses are usable.
    return pools.find((p) => cidrContains(p.subnet, ip)) ?? (pools.length === 1 ? pools[0]! : noSubnetFor(ip, pools));
  }
}

function noSubnetFor(ip: Ipv4, pools: readonly AddressPool[]): never {
  const subnets = pools.map((p) => p.subnetText).join(', ');
  throw new InvalidArgumentError(`address ${formatIpv4(ip)} is in none of the network's subnets (${subnets})`, `choose an address in one of ${subnets}`);
}

/** Runs synchronous pool work, turning its throw into a rejection (callers await either way). */
function attempt<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
