/**
 * IP address management behind one interface: the local allocator now (local.ts), etcd
 * for networks that span hosts in part 7. Async for that reason: a cluster-wide allocator
 * answers over the network. Addresses are dotted-quad strings at this boundary.
 */
export interface IpamPoolConfig {
  readonly subnet: string; // CIDR
  readonly gateway?: string;
  /** Where dynamic addresses come from; the whole subnet when absent. */
  readonly ipRange?: string;
  /** Addresses never handed out (`--aux-address`, and what drivers reserve for themselves). */
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/** local: the network lives on this host; global: it spans the hosts of a cluster (overlay). */
export type PoolScope = 'local' | 'global';

export interface Ipam {
  /**
   * Makes the network's pool: one subnet per config (`--subnet` given several times), in
   * order. Dynamic addresses come from the first subnet with one free, as libnetwork's.
   */
  addPool(networkId: string, subnets: readonly IpamPoolConfig[], scope?: PoolScope): Promise<void>;
  /** Forgets it (and every address it handed out). */
  removePool(networkId: string): Promise<void>;
  /** `requested` (a static --ip, or one restored from the store) or the lowest free address of the first subnet with room. */
  allocate(networkId: string, requested?: string): Promise<string>;
  /** Throws what allocate(requested) would throw, taking nothing (to check a request early). */
  checkAllocatable(networkId: string, requested: string): Promise<void>;
  /** Gives an address back; giving back what is not held succeeds. */
  release(networkId: string, address: string): Promise<void>;
}
