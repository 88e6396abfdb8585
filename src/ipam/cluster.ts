import { ConflictError, ExhaustedError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { cidrContains, formatIpv4, parseIpv4, type Ipv4 } from '../common/ipv4.js';
import type { Ipam, IpamPoolConfig } from './ipam.js';
import { poolOf, type AddressPool } from './pool.js';

/**
 * Addresses held across a cluster, one record per address (the cluster store's
 * `addresses/<network>.<address>`): claiming is create-if-absent, one transaction, so two
 * hosts can never both win the same address.
 */
export interface AddressClaims {
  /** Takes `address` of `networkId` for `owner`; when it is held already, says by whom. */
  claim(networkId: string, address: string, owner: string): Promise<{ readonly won: true } | { readonly won: false; readonly holder: string }>;
  /** Gives it back, if `owner` holds it. */
  release(networkId: string, address: string, owner: string): Promise<void>;
  /** Every address of the network held, with its holder. */
  held(networkId: string): Promise<ReadonlyMap<string, string>>;
  /** Drops every claim of the network (it is removed). */
  forget(networkId: string): Promise<void>;
}

/** How many addresses one allocation tries before giving up to contention (each loss means another host took one). */
const MAX_LOST_CLAIMS = 64;
/** How many free addresses an allocation considers: the lowest, and the ones it spreads to under contention. */
const CANDIDATES = 256;

/**
 * IPAM for networks that span hosts (overlay): the pools' rules (range, gateway, aux
 * addresses) as on one host, the holding of addresses in the cluster store. A dynamic
 * allocation reads what is held (one round trip), then claims the lowest free address;
 * losing a race to another host moves on to the next. Claims outlive a host's lease on
 * purpose: a host cut off for a while comes back to find its containers' addresses still
 * its own.
 */
export class ClusterIpam implements Ipam {
  private readonly pools = new Map<string, readonly IpamPoolConfig[]>();

  constructor(
    private readonly claims: AddressClaims,
    /** This host, as claims name it. */
    private readonly owner: string,
  ) {}

  addPool(networkId: string, subnets: readonly IpamPoolConfig[]): Promise<void> {
    if (subnets.length === 0) return Promise.reject(new InvalidArgumentError(`network ${networkId} needs at least one subnet`));
    this.pools.set(networkId, subnets);
    return Promise.resolve();
  }

  /** This host's rules for the network go; the claims stay for whoever removes the network from the cluster (claims.forget). */
  removePool(networkId: string): Promise<void> {
    this.pools.delete(networkId);
    return Promise.resolve();
  }

  async allocate(networkId: string, requested?: string): Promise<string> {
    if (requested !== undefined) {
      const ip = this.checkUsable(networkId, requested);
      const result = await this.claims.claim(networkId, formatIpv4(ip), this.owner);
      // Held by this host already: a container of its own being restored at start.
      if (!result.won && result.holder !== this.owner) throw inUse(requested, result.holder);
      return requested;
    }
    const held = new Map(await this.claims.held(networkId));
    const free = this.freeCandidates(networkId, held);
    let lost = 0;
    // The lowest free address first, as on one host; after a lost race, a random one of the
    // next free addresses, so hosts allocating at the same moment stop colliding.
    for (let pick = 0; free.length > 0; pick = Math.floor(Math.random() * free.length)) {
      const [address] = free.splice(pick, 1) as [string];
      const result = await this.claims.claim(networkId, address, this.owner);
      if (result.won) return address;
      if (++lost >= MAX_LOST_CLAIMS) throw new ExhaustedError(`no address won on network ${networkId} after ${lost} claims lost to other hosts`, 'try again: other hosts are allocating on this network at the same moment');
    }
    const subnets = this.poolsOf(networkId).map((s) => s.subnet).join(', ');
    throw new ExhaustedError(`no free IPv4 address left in ${subnets} (held across the cluster)`, 'remove containers from this network on any host, or use a network with a larger subnet');
  }

  async checkAllocatable(networkId: string, requested: string): Promise<void> {
    this.checkUsable(networkId, requested);
    const holder = (await this.claims.held(networkId)).get(requested);
    if (holder !== undefined) throw inUse(requested, holder);
  }

  release(networkId: string, address: string): Promise<void> {
    return this.claims.release(networkId, address, this.owner);
  }

  /** Up to CANDIDATES free addresses, lowest first, across the network's subnets in order. */
  private freeCandidates(networkId: string, held: ReadonlyMap<string, string>): string[] {
    const out: string[] = [];
    for (const pool of this.freshPools(networkId)) {
      for (const ip of pool.candidates()) {
        const address = formatIpv4(ip);
        if (!held.has(address)) out.push(address);
        if (out.length >= CANDIDATES) return out;
      }
    }
    return out;
  }

  private poolsOf(networkId: string): readonly IpamPoolConfig[] {
    const pools = this.pools.get(networkId);
    if (!pools) throw new NotFoundError(`network ${networkId} has no address pool`);
    return pools;
  }

  /** The pools' rules with nothing marked used: what is held lives in the cluster store. */
  private freshPools(networkId: string): AddressPool[] {
    return this.poolsOf(networkId).map(poolOf);
  }

  /** A static address must be a usable one of a subnet: not network, broadcast, gateway or aux. */
  private checkUsable(networkId: string, requested: string): Ipv4 {
    const ip = parseIpv4(requested);
    const pools = this.freshPools(networkId);
    const pool = pools.find((p) => cidrContains(p.subnet, ip)) ?? pools[0]!;
    pool.checkReservable(ip);
    return ip;
  }
}

function inUse(address: string, holder: string): ConflictError {
  return new ConflictError(`address ${address} is already in use on this network (held by host ${holder})`, 'choose another address, or leave --ip out');
}
