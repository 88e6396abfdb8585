import { BerthError, ConflictError, NotFoundError, quotePrefix } from '../../common/errors.js';
import type { EngineContext } from '../context.js';
import type { AddressedNetwork } from '../model.js';
import type { IpamConfigRequest } from '../network-create.js';
import type { NetworkService } from '../network-service.js';

/** The label berth puts on the networks another runtime made through its plugin: berth's own `network rm` leaves them to that runtime. */
export const EXTERNAL_OWNER_LABEL = 'berth.owner';
export const DOCKERD_OWNER = 'dockerd';

/** A network dockerd asks its plugin for (NetworkDriver.CreateNetwork), typed. */
export interface ExternalNetworkRequest {
  /** dockerd's network id. */
  readonly externalId: string;
  /** The berth driver behind the plugin's socket: bridge, macvlan, ipvlan or overlay. */
  readonly driver: string;
  /**
   * The berth network's name (`-o berth.name=`): what hosts meet on for an overlay, since
   * dockerd tells a plugin no network name. Default: docker-<first 12 digits of the id>.
   */
  readonly name?: string;
  readonly options: Readonly<Record<string, string>>;
  readonly internal: boolean;
  /** The pools dockerd's IPAM (berth's plugin or dockerd's own) settled. */
  readonly subnets: readonly IpamConfigRequest[];
}

interface ExternalNetworkBinding {
  readonly networkId: string;
}

/**
 * dockerd's networks on berth: each is a berth network (which `berth network ls` shows),
 * bound to dockerd's id in the store. An overlay named on several hosts is one berth
 * network, made by the first host's dockerd and joined by the others'.
 */
export class ExternalNetworks {
  private readonly bindings = new Map<string, string>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly networkService: NetworkService,
  ) {}

  async load(): Promise<void> {
    for (const s of await this.ctx.deps.store.list('external-networks')) {
      const v = s.value as Partial<ExternalNetworkBinding> | null;
      if (!v || typeof v.networkId !== 'string') throw new BerthError('internal', `malformed external network binding ${s.id}`);
      this.bindings.set(s.id, v.networkId);
    }
  }

  /** The berth network behind dockerd's network id. */
  resolve(externalId: string): AddressedNetwork {
    const networkId = this.bindings.get(externalId);
    const network = networkId === undefined ? undefined : this.ctx.networks.byIdExact(networkId);
    if (!network?.ipam) throw new NotFoundError(`no berth network for dockerd's network ${quotePrefix(externalId)}`);
    return this.ctx.networks.addressedById(network.id);
  }

  async create(request: ExternalNetworkRequest): Promise<AddressedNetwork> {
    if (this.bindings.has(request.externalId)) return this.resolve(request.externalId);
    const name = request.name ?? `docker-${request.externalId.slice(0, 12)}`;
    const existing = this.ctx.networks.find(name);
    const network = existing?.ipam ? this.adopt(this.ctx.networks.addressedById(existing.id), request) : await this.networkService.create({
      name,
      driver: request.driver,
      internal: request.internal,
      attachable: true,
      labels: { [EXTERNAL_OWNER_LABEL]: DOCKERD_OWNER },
      options: request.options,
      ipam: request.subnets,
    });
    await this.ctx.deps.store.put('external-networks', request.externalId, { networkId: network.id } satisfies ExternalNetworkBinding);
    this.bindings.set(request.externalId, network.id);
    return network;
  }

  /**
   * Another host's dockerd made this overlay already: this host's dockerd joins it when it
   * asks for the same driver and subnets. Anything else with the name is a clash.
   */
  private adopt(network: AddressedNetwork, request: ExternalNetworkRequest): AddressedNetwork {
    const sameSubnets = request.subnets.length === 0 || request.subnets.every((s, i) => s.subnet === network.ipam.subnets[i]?.subnet);
    if (network.scope !== 'global' || network.driver !== request.driver || !sameSubnets || network.labels[EXTERNAL_OWNER_LABEL] !== DOCKERD_OWNER) {
      throw new ConflictError(
        `berth has a network named ${network.name} already (${network.driver}, ${network.ipam.subnets.map((s) => s.subnet).join(', ')})`,
        'choose another -o berth.name; only an overlay made through the plugin with the same subnet is shared between hosts',
      );
    }
    return network;
  }

  /**
   * dockerd removed its network: the berth network goes too, except an overlay other hosts
   * still use, which stays theirs (this host only lets go of its binding).
   */
  async remove(externalId: string): Promise<void> {
    const networkId = this.bindings.get(externalId);
    if (networkId === undefined) return;
    const network = this.ctx.networks.byIdExact(networkId);
    if (network) {
      try {
        await this.networkService.remove(network.id, { byOwner: true });
      } catch (err) {
        // A global network's removal is refused while other hosts hold endpoints on it.
        if (!(network.scope === 'global' && err instanceof ConflictError)) throw err;
      }
    }
    await this.ctx.deps.store.delete('external-networks', externalId);
    this.bindings.delete(externalId);
  }
}
