import { ConflictError, ExhaustedError, InvalidArgumentError } from '../common/errors.js';
import {
  broadcastOf,
  cidrContains,
  formatCidr,
  formatIpv4,
  parseCidr,
  parseIpv4,
  type Ipv4,
  type Ipv4Cidr,
} from '../common/ipv4.js';
import type { IpamPoolConfig } from './ipam.js';

/**
 * The addresses of one subnet: who holds which. The network address, the broadcast
 * address, the gateway and auxiliary addresses (`--aux-address`) are never handed out.
 * Dynamic allocation takes the lowest free address of the range (`--ip-range`, default the
 * whole subnet), as libnetwork's default IPAM does, so a released address is reused first.
 * A static address (`--ip`) may lie anywhere in the subnet, also outside the range: that
 * is how Docker users keep static addresses apart from dynamic ones.
 */
export class AddressPool {
  private readonly used = new Set<Ipv4>();
  /** Gateway and aux addresses, by address: never allocated, never released. */
  private readonly reserved = new Map<Ipv4, string>();
  private readonly first: Ipv4;
  private readonly last: Ipv4;
  private readonly rangeFirst: Ipv4;
  private readonly rangeLast: Ipv4;
  /** No address below this one is free: the search for the lowest free one starts here (else O(addresses in use) per allocation). */
  private noneFreeBelow: Ipv4;

  constructor(
    readonly subnet: Ipv4Cidr,
    readonly gateway: Ipv4 | undefined,
    opts: { range?: Ipv4Cidr; aux?: Readonly<Record<string, Ipv4>> } = {},
  ) {
    if (gateway !== undefined && !cidrContains(subnet, gateway)) {
      throw new InvalidArgumentError(`gateway ${formatIpv4(gateway)} is outside subnet ${formatCidr(subnet)}`);
    }
    // /31 and /32 have no network/broadcast addresses to skip (RFC 3021).
    const tiny = subnet.prefixLength >= 31;
    this.first = tiny ? subnet.network : subnet.network + 1;
    this.last = tiny ? broadcastOf(subnet) : broadcastOf(subnet) - 1;
    const range = opts.range ?? subnet;
    this.rangeFirst = Math.max(this.first, range.network);
    this.rangeLast = Math.min(this.last, broadcastOf(range));
    this.noneFreeBelow = this.rangeFirst;
    if (gateway !== undefined) this.reserved.set(gateway, 'the gateway');
    for (const [name, ip] of Object.entries(opts.aux ?? {})) this.reserved.set(ip, `auxiliary address "${name}"`);
  }

  allocate(): Ipv4 {
    const ip = this.lowestFree();
    if (ip !== undefined) {
      this.used.add(ip);
      return ip;
    }
    const where = this.rangeFirst === this.first && this.rangeLast === this.last ? formatCidr(this.subnet) : `${formatIpv4(this.rangeFirst)}-${formatIpv4(this.rangeLast)}`;
    throw new ExhaustedError(
      `no free IPv4 address left in ${where}`,
      'remove containers from this network or use a network with a larger subnet or range',
    );
  }

  /** Addresses `allocate` could hand out, lowest first (a cluster allocator claims them in this order). */
  *candidates(): Generator<Ipv4> {
    for (let ip = this.rangeFirst; ip <= this.rangeLast; ip++) if (!this.used.has(ip) && !this.reserved.has(ip)) yield ip;
  }

  /** Whether `allocate` would find an address. */
  hasFree(): boolean {
    return this.lowestFree() !== undefined;
  }

  get subnetText(): string {
    return formatCidr(this.subnet);
  }

  private lowestFree(): Ipv4 | undefined {
    for (let ip = this.noneFreeBelow; ip <= this.rangeLast; ip++) {
      if (!this.used.has(ip) && !this.reserved.has(ip)) {
        this.noneFreeBelow = ip;
        return ip;
      }
    }
    this.noneFreeBelow = this.rangeLast + 1;
    return undefined;
  }

  /** Claims a specific address (a static `--ip`, or one restored from the store). */
  reserve(ip: Ipv4): void {
    this.checkReservable(ip);
    this.used.add(ip);
  }

  /** Throws what `reserve` would throw for `ip`, claiming nothing (to check a request early). */
  checkReservable(ip: Ipv4): void {
    if (!cidrContains(this.subnet, ip) || ip < this.first || ip > this.last) {
      throw new InvalidArgumentError(
        `address ${formatIpv4(ip)} is not a usable address of ${formatCidr(this.subnet)}`,
        `use an address from ${formatIpv4(this.first)} to ${formatIpv4(this.last)}`,
      );
    }
    const reservedFor = this.reserved.get(ip);
    if (reservedFor !== undefined) throw new ConflictError(`address ${formatIpv4(ip)} is reserved in ${formatCidr(this.subnet)}: it is ${reservedFor}`);
    if (this.used.has(ip)) {
      throw new ConflictError(`address ${formatIpv4(ip)} is already in use in ${formatCidr(this.subnet)}`);
    }
  }

  release(ip: Ipv4): void {
    this.used.delete(ip);
    if (ip >= this.rangeFirst && ip < this.noneFreeBelow) this.noneFreeBelow = ip;
  }

  isUsed(ip: Ipv4): boolean {
    return this.used.has(ip) || this.reserved.has(ip);
  }

  /** Addresses handed out, not counting the gateway or aux addresses. */
  get allocatedCount(): number {
    return this.used.size;
  }
}

/** A subnet's pool as its IPAM config describes it (addresses as dotted quads, as at the Ipam boundary). */
export function poolOf(config: IpamPoolConfig): AddressPool {
  const aux = Object.fromEntries(Object.entries(config.auxAddresses).map(([k, ip]) => [k, parseIpv4(ip)]));
  const gateway = config.gateway === undefined ? undefined : parseIpv4(config.gateway);
  return new AddressPool(parseCidr(config.subnet), gateway, { range: config.ipRange === undefined ? undefined : parseCidr(config.ipRange), aux });
}
