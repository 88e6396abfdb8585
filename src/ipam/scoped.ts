import { MissingFeatureError } from '../common/errors.js';
import type { Ipam, IpamPoolConfig, PoolScope } from './ipam.js';

/**
 * The daemon's IPAM: local networks' addresses in this host's allocator, those of networks
 * that span hosts in the cluster's (absent when the daemon joined no cluster).
 */
export class ScopedIpam implements Ipam {
  private readonly global = new Set<string>();

  constructor(
    private readonly local: Ipam,
    private readonly cluster: Ipam | undefined,
  ) {}

  async addPool(networkId: string, subnets: readonly IpamPoolConfig[], scope: PoolScope = 'local'): Promise<void> {
    if (scope === 'local') return this.local.addPool(networkId, subnets);
    if (!this.cluster) throw new MissingFeatureError('a network that spans hosts needs a cluster store', 'start the daemon with --cluster-store etcd://HOST:PORT --cluster-advertise ADDR');
    await this.cluster.addPool(networkId, subnets);
    this.global.add(networkId);
  }

  async removePool(networkId: string): Promise<void> {
    await this.of(networkId).removePool(networkId);
    this.global.delete(networkId);
  }

  allocate(networkId: string, requested?: string): Promise<string> {
    return this.of(networkId).allocate(networkId, requested);
  }

  checkAllocatable(networkId: string, requested: string): Promise<void> {
    return this.of(networkId).checkAllocatable(networkId, requested);
  }

  release(networkId: string, address: string): Promise<void> {
    return this.of(networkId).release(networkId, address);
  }

  private of(networkId: string): Ipam {
    return this.global.has(networkId) && this.cluster ? this.cluster : this.local;
  }
}
