import type { PortMapping } from '../../common/portspec.js';
import type { ClusterSync } from '../cluster-sync.js';
import type { EngineContext } from '../context.js';
import type { NetworkService } from '../network-service.js';
import type { PublishedPort } from '../ports.js';
import { ExternalEndpoints, type ExternalEndpointRecord, type ExternalEndpointRequest, type ExternalJoin } from './endpoints.js';
import { ExternalNetworks, type ExternalNetworkRequest } from './networks.js';
import { ExternalPools, type PoolRequest } from './pools.js';

/**
 * What another container runtime (dockerd, through berth's plugin sockets) may ask of the
 * engine: networks, endpoints, ports and IPAM pools, each in the engine's operation queue
 * like every other change, so dockerd's requests and berth's own never interleave.
 */
export class ExternalRuntime {
  private readonly endpoints: ExternalEndpoints;
  private readonly networks: ExternalNetworks;
  private readonly pools: ExternalPools;

  constructor(
    ctx: EngineContext,
    networkService: NetworkService,
    private readonly cluster: ClusterSync | undefined,
    private readonly inQueue: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {
    this.pools = new ExternalPools(ctx);
    this.endpoints = new ExternalEndpoints(ctx, (networkId, address) => this.pools.takeHandedOut(networkId, address));
    this.networks = new ExternalNetworks(ctx, networkService);
  }

  /** At start, before reconcile reads the endpoints' addresses and ports. */
  async load(): Promise<ExternalEndpointRecord[]> {
    await this.networks.load();
    await this.pools.load();
    return this.endpoints.load();
  }

  createNetwork(request: ExternalNetworkRequest): Promise<void> {
    return this.inQueue(async () => void (await this.networks.create(request)));
  }

  removeNetwork(externalNetworkId: string): Promise<void> {
    return this.inQueue(() => this.networks.remove(externalNetworkId));
  }

  createEndpoint(externalNetworkId: string, endpointId: string, request: ExternalEndpointRequest): Promise<ExternalEndpointRecord> {
    return this.inQueue(() => this.endpoints.create(this.networks.resolve(externalNetworkId), endpointId, request));
  }

  removeEndpoint(endpointId: string): Promise<void> {
    return this.inQueue(async () => {
      const record = this.endpoints.find(endpointId);
      await this.endpoints.remove(endpointId);
      if (record) await this.cluster?.publishExternal(record, true);
    });
  }

  join(endpointId: string, sandboxKey: string): Promise<ExternalJoin> {
    return this.inQueue(async () => {
      const joined = await this.endpoints.join(endpointId, sandboxKey);
      await this.publishToCluster(endpointId);
      return joined;
    });
  }

  leave(endpointId: string): Promise<void> {
    return this.inQueue(async () => {
      await this.endpoints.leave(endpointId);
      await this.publishToCluster(endpointId);
    });
  }

  publishPorts(endpointId: string, mappings: readonly PortMapping[]): Promise<readonly PublishedPort[]> {
    return this.inQueue(() => this.endpoints.publishPorts(endpointId, mappings));
  }

  revokePorts(endpointId: string): Promise<void> {
    return this.inQueue(() => this.endpoints.revokePorts(endpointId));
  }

  requestPool(request: PoolRequest): Promise<{ poolId: string; pool: string }> {
    return this.inQueue(() => this.pools.request(request));
  }

  releasePool(poolId: string): Promise<void> {
    return this.inQueue(() => this.pools.release(poolId));
  }

  requestAddress(poolId: string, requested: string | undefined, isGateway: boolean): Promise<string> {
    return this.inQueue(() => this.pools.requestAddress(poolId, requested, isGateway));
  }

  releaseAddress(poolId: string, address: string): Promise<void> {
    return this.inQueue(() => this.pools.releaseAddress(poolId, address));
  }

  private async publishToCluster(endpointId: string): Promise<void> {
    const record = this.endpoints.find(endpointId);
    if (record) await this.cluster?.publishExternal(record);
  }
}
