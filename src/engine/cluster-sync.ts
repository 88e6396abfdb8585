import { ChangeCounter } from '../common/change-counter.js';
import type { DnsEndpoint } from '../dns/names.js';
import type { RemoteEndpoint } from '../drivers/driver.js';
import type { Plan } from '../kernel/ops.js';
import { hostLinkPresence, readKernelView } from '../kernel/view.js';
import type { CollectionWatch, WatchEvent } from '../store/etcd-watch.js';
import type { ClusterLink, EngineContext } from './context.js';
import type { ExternalEndpointRecord } from './external/endpoints.js';
import { hasAddresses, parseNetworkRecord, type AddressedNetwork, type ContainerRecord, type EndpointRecord } from './model.js';
import { driverNetwork } from './networks.js';

/** What a host publishes of each of its endpoints on a global network (`peers/<network>.<endpoint>`, under its lease). */
export interface PeerRecord {
  readonly network: string;
  readonly endpoint: string;
  readonly container: string;
  readonly containerName: string;
  readonly aliases: readonly string[];
  readonly address: string;
  readonly mac: string;
  /** The VTEP of its host: the host's --cluster-advertise address. */
  readonly vtep: string;
}

/**
 * This host's side of the cluster (part 7): global networks and endpoints between the
 * cluster store and the kernel.
 *  - Networks: every global network in the store exists on every host (its bridge and
 *    VXLAN link made when it appears, removed when it goes). Eager rather than Docker's
 *    lazy creation at the first local container: one rule, and repair at start covers it.
 *  - Endpoints: this host publishes those of its running containers on global networks
 *    under its lease, and programs every other host's into the kernel through the
 *    network's driver (FDB and neighbour entries), from a watch of the store.
 *  - Names: other hosts' endpoints are names the embedded DNS answers, scoped per network.
 * Watch events are applied in the engine's operation queue, never beside an operation.
 */
export class ClusterSync {
  /** Every host's endpoints on global networks, by peer id, as the store shows them. */
  private readonly peers = new Map<string, PeerRecord>();
  /** What the kernel has been given, per network: the remote endpoints programmed. */
  private readonly programmed = new Map<string, readonly RemoteEndpoint[]>();
  /** This host's published endpoints, per container (or external endpoint): peer id → the JSON published. */
  private readonly published = new Map<string, Map<string, string>>();
  private readonly watches: CollectionWatch[] = [];
  /** Counts every change to the peers, so the name index knows when to rebuild. */
  readonly changes = new ChangeCounter();

  constructor(
    private readonly ctx: EngineContext,
    readonly link: ClusterLink,
    private readonly inQueue: (operation: () => Promise<void>) => Promise<void>,
    private readonly log: (message: string) => void,
  ) {}

  /** After reconcile: publish this host's endpoints (a restart holds a new lease) and follow the store. */
  async start(): Promise<void> {
    for (const c of this.ctx.containers.all()) await this.publish(c);
    for (const r of this.ctx.external.all()) await this.publishExternal(r);
    this.watches.push(await this.link.watch('networks', (events) => this.queue('following the cluster\'s networks', () => this.networksChanged(events))));
    this.watches.push(
      await this.link.watch('peers', (events) => {
        this.peersChanged(events);
        this.queue('programming the cluster\'s endpoints', () => this.program());
      }),
    );
  }

  async stop(): Promise<void> {
    for (const w of this.watches) await w.stop().catch(() => undefined);
  }

  private queue(what: string, work: () => Promise<void>): void {
    this.inQueue(work).catch((err: unknown) => this.log(`berth: ${what} failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** A container's endpoints on global networks as published: those of a running container, none otherwise. */
  async publish(container: ContainerRecord, removed = false): Promise<void> {
    const desired = new Map<string, PeerRecord>();
    if (!removed && container.state.status === 'running') {
      for (const ep of container.endpoints) {
        const aliases = container.networks.find((a) => a.networkId === ep.networkId)?.aliases ?? [];
        const peer = this.peerOf(ep, { container: container.id, containerName: container.name, aliases });
        if (peer) desired.set(peerId(peer.network, ep.id), peer);
      }
    }
    await this.publishAs(container.id, desired);
  }

  /** Another runtime's endpoint (dockerd's, on an overlay through the plugin): published while joined. */
  async publishExternal(record: ExternalEndpointRecord, removed = false): Promise<void> {
    const { endpoint } = record;
    const peer = !removed && record.sandboxKey !== undefined ? this.peerOf(endpoint, { container: endpoint.id, containerName: `endpoint-${endpoint.id.slice(0, 12)}`, aliases: [] }) : undefined;
    await this.publishAs(endpoint.id, new Map(peer ? [[peerId(peer.network, endpoint.id), peer]] : []));
  }

  /** The peer record of an endpoint on a global network; undefined for any other network. */
  private peerOf(ep: EndpointRecord, owner: Pick<PeerRecord, 'container' | 'containerName' | 'aliases'>): PeerRecord | undefined {
    const network = this.ctx.networks.byIdExact(ep.networkId);
    if (network?.scope !== 'global' || ep.mac === undefined) return undefined;
    return { network: network.id, endpoint: ep.id, ...owner, address: ep.address, mac: ep.mac, vtep: this.link.hostAddress };
  }

  /** Makes the store hold exactly `desired` of what `owner` published. */
  private async publishAs(owner: string, desired: ReadonlyMap<string, PeerRecord>): Promise<void> {
    const before = this.published.get(owner) ?? new Map<string, string>();
    const now = new Map([...desired].map(([id, peer]) => [id, JSON.stringify(peer)]));
    for (const [id, json] of now) if (before.get(id) !== json) await this.link.putHeld('peers', id, JSON.parse(json));
    for (const id of before.keys()) if (!now.has(id)) await this.link.deleteHeld('peers', id);
    if (now.size > 0) this.published.set(owner, now);
    else this.published.delete(owner);
  }

  /** Endpoints of `networkId` on other hosts (for `network rm`'s check, and the names). */
  remoteEndpointsOf(networkId: string): PeerRecord[] {
    return [...this.peers.values()].filter((p) => p.network === networkId && p.vtep !== this.link.hostAddress);
  }

  /** Other hosts' running containers on global networks, as names the embedded DNS answers. */
  remoteNames(): DnsEndpoint[] {
    return [...this.peers.values()].flatMap((p) => {
      const network = this.ctx.networks.byIdExact(p.network);
      if (p.vtep === this.link.hostAddress || !this.ctx.networks.servesNames(network)) return [];
      return [{ containerId: p.container, containerName: p.containerName, networkId: network.id, networkName: network.name, address: p.address, aliases: p.aliases }];
    });
  }

  /** A network made again on this host (repair, create) has an empty FDB: its peers are programmed from nothing. */
  private forgetProgrammed(networkId: string): void {
    this.programmed.delete(networkId);
  }

  private peersChanged(events: readonly WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'reset') {
        this.peers.clear();
        for (const [id, value] of e.values) this.remember(id, value);
      } else if (e.type === 'put') this.remember(e.id, e.value);
      else this.peers.delete(e.id);
    }
    this.changes.bump();
  }

  /** A peer as another host wrote it: data entering the program, so checked; a malformed one is logged and left out. */
  private remember(id: string, value: unknown): void {
    const v = value as Record<string, unknown> | null;
    const fields = ['network', 'endpoint', 'container', 'containerName', 'address', 'mac', 'vtep'];
    if (typeof v === 'object' && v !== null && fields.every((f) => typeof v[f] === 'string') && Array.isArray(v.aliases)) {
      this.peers.set(id, v as unknown as PeerRecord);
    } else {
      this.peers.delete(id);
      this.log(`berth: the cluster store holds a malformed endpoint at peers/${id}: ${JSON.stringify(value).slice(0, 200)}`);
    }
  }

  /** After a drift repair re-made global networks' links here: their peers are programmed from nothing (idempotent). Runs in the queue. */
  async reprogram(networkIds: readonly string[]): Promise<void> {
    for (const id of networkIds) this.forgetProgrammed(id);
    await this.program();
  }

  /** Each global network's remote endpoints into the kernel, as a difference to what it has. */
  private async program(): Promise<void> {
    for (const network of this.globalNetworks()) {
      const driver = this.ctx.networks.driverOf(network);
      if (!driver.peersChanged) continue;
      const after = this.remoteEndpointsOf(network.id).map((p): RemoteEndpoint => ({ address: p.address, mac: p.mac, vtep: p.vtep }));
      const plan = driver.peersChanged(driverNetwork(network), this.programmed.get(network.id) ?? [], after);
      await this.ctx.deps.executor.apply(plan);
      this.programmed.set(network.id, after);
    }
  }

  /** Global networks that appeared (made on this host) or went (removed from it). */
  private async networksChanged(events: readonly WatchEvent[]): Promise<void> {
    const { arrived, departed } = foldNetworkEvents(new Map(this.globalNetworks().map((n) => [n.id, n])), events);
    for (const network of arrived) await this.arrived(network);
    for (const network of departed) await this.departed(network);
    if (arrived.length > 0) await this.program();
  }

  private async arrived(network: AddressedNetwork): Promise<void> {
    this.ctx.networks.add(network);
    await this.ctx.deps.ipam.addPool(network.id, network.ipam.subnets, 'global');
    // Repair against an empty network makes what is missing: everything, on a host new to it.
    const plan: Plan = this.ctx.networks.driverOf(network).repair(driverNetwork(network), [], await readKernelView());
    await this.ctx.deps.executor.apply(plan);
    this.forgetProgrammed(network.id);
  }

  private async departed(network: AddressedNetwork): Promise<void> {
    const users = this.ctx.containers.all().filter((c) => c.endpoints.some((e) => e.networkId === network.id));
    if (users.length > 0) {
      this.log(`berth: network ${network.name} was removed from the cluster while containers here use it (${users.map((c) => c.name).join(', ')}); it stays on this host until they are removed`);
      return;
    }
    // Deleting asks only which links exist: the kernel answers name by name.
    await this.ctx.deps.executor.apply(this.ctx.networks.driverOf(network).deleteNetwork(driverNetwork(network), hostLinkPresence()));
    this.ctx.networks.remove(network.id);
    await this.ctx.deps.ipam.removePool(network.id);
    this.programmed.delete(network.id);
  }

  private globalNetworks(): AddressedNetwork[] {
    return this.ctx.networks.addressed().filter((n) => n.scope === 'global');
  }
}

export function peerId(networkId: string, endpointId: string): string {
  return `${networkId}.${endpointId}`;
}

/**
 * What one batch of watch events does to the global networks a host has (`known`, by id):
 * the ones to make and the ones to remove, the events taken in order. A batch may hold a
 * network's creation and its removal both (a watch resumed after a broken stream delivers
 * every change it missed at once): such a network is neither made nor removed.
 */
export function foldNetworkEvents(known: ReadonlyMap<string, AddressedNetwork>, events: readonly WatchEvent[]): { arrived: AddressedNetwork[]; departed: AddressedNetwork[] } {
  // Each network the batch touched, as it stands after the batch: its record, or null for gone.
  const after = new Map<string, AddressedNetwork | null>();
  for (const e of events) {
    if (e.type === 'reset') {
      for (const id of [...known.keys(), ...after.keys()]) after.set(id, null);
      for (const [id, value] of e.values) {
        const n = parseNetworkRecord(value);
        if (hasAddresses(n)) after.set(id, n);
      }
    } else if (e.type === 'put') {
      const n = parseNetworkRecord(e.value);
      if (hasAddresses(n)) after.set(e.id, n);
    } else after.set(e.id, null);
  }
  const arrived: AddressedNetwork[] = [];
  const departed: AddressedNetwork[] = [];
  for (const [id, n] of after) {
    const had = known.get(id);
    if (n !== null && had === undefined) arrived.push(n);
    else if (n === null && had !== undefined) departed.push(had);
  }
  return { arrived, departed };
}
