import { ConflictError, ExhaustedError, InvalidArgumentError } from '../common/errors.js';
import {
  broadcastOf,
  cidrContains,
  formatCidr,
  formatIpv4,
  type Ipv4,
  type Ipv4Cidr,
} from '../common/ipv4.js';

/**
 * The addresses of one subnet: who holds which. The network address, the broadcast
 * address and the gateway are never handed out. Allocation returns the lowest free
 * address, as libnetwork's default IPAM does, so a released address is reused first.
 */
export class AddressPool {
  private readonly used = new Set<Ipv4>();
  private readonly first: Ipv4;
  private readonly last: Ipv4;

  constructor(
    readonly subnet: Ipv4Cidr,
    readonly gateway: Ipv4,
  ) {
    if (!cidrContains(subnet, gateway)) {
      throw new InvalidArgumentError(`gateway ${formatIpv4(gateway)} is outside subnet ${formatCidr(subnet)}`);
    }
    // /31 and /32 have no network/broadcast addresses to skip (RFC 3021).
    const tiny = subnet.prefixLength >= 31;
    this.first = tiny ? subnet.network : subnet.network + 1;
    this.last = tiny ? broadcastOf(subnet) : broadcastOf(subnet) - 1;
    this.used.add(gateway);
  }

  allocate(): Ipv4 {
    for (let ip = this.first; ip <= this.last; ip++) {
      if (!this.used.has(ip)) {
        this.used.add(ip);
        return ip;
      }
    }
    throw new ExhaustedError(
      `no free IPv4 address left in ${formatCidr(this.subnet)}`,
      'remove containers from this network or use a network with a larger subnet',
    );
  }

  /** Claims a specific address (a static `--ip`, or one restored from the store). */
  reserve(ip: Ipv4): void {
    if (!cidrContains(this.subnet, ip) || ip < this.first || ip > this.last) {
      throw new InvalidArgumentError(`address ${formatIpv4(ip)} is not a usable address of ${formatCidr(this.subnet)}`);
    }
    if (this.used.has(ip)) {
      throw new ConflictError(`address ${formatIpv4(ip)} is already in use in ${formatCidr(this.subnet)}`);
    }
    this.used.add(ip);
  }

  release(ip: Ipv4): void {
    if (ip !== this.gateway) this.used.delete(ip);
  }

  isUsed(ip: Ipv4): boolean {
    return this.used.has(ip);
  }

  /** Addresses handed out, not counting the gateway. */
  get allocatedCount(): number {
    return this.used.size - 1;
  }
}
