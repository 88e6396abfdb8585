import { ConflictError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { parseResolvConf } from '../dns/resolvconf.js';
import { routeClaimsSubnet } from '../ipam/subnets.js';
import { hostLinkExists, hostRoutes } from '../kernel/read.js';
import type { KernelOp, Plan } from '../kernel/ops.js';
import { parseCidr } from '../common/ipv4.js';
import { joinPlan, subnetHolding } from '../drivers/driver.js';
import { FIRST_VNI } from '../drivers/overlay/options.js';
import { LocalIpam } from '../ipam/local.js';
import { hostLinkPresence } from '../kernel/view.js';
import { attachableNetwork, checkedAttachment, type EndpointRequest } from './container-config.js';
import { readHostFile } from './container-files.js';
import type { EngineContext } from './context.js';
import { allocateEndpoint, driverEndpoint, nextIfname, releaseEndpoint } from './endpoints.js';
import { describeMode, parseNetworkMode } from './modes.js';
import { BUILTIN_NETWORKS, hasAddresses, isUserDefined, type AddressedNetwork, type ContainerRecord, type EndpointRecord, type NetworkAttachment, type NetworkRecord } from './model.js';
import { newNetwork, type CreateNetworkRequest, type NetworkCreateContext } from './network-create.js';
import { driverNetwork, GATEWAY_BRIDGE } from './networks.js';
import { sandboxName } from './sandbox.js';
import { switchToEmbeddedDns } from './sandbox-setup.js';
import { inTransaction } from './transaction.js';
import type { ClusterSync } from './cluster-sync.js';
import { EXTERNAL_OWNER_LABEL } from './external/networks.js';
import { firstFreeVni } from './cluster-claims.js';
import { createGlobalNetwork, removeGlobalNetwork } from './global-networks.js';
import { guardChange } from './guards.js';
import { endpointsUpPlan, namesOf, type ExplainedPlan } from './sandbox-plans.js';
import { checkNetworkCount } from './limits.js';

/**
 * Networks as users manage them: `network create | rm | prune | connect | disconnect`.
 * Each is one transaction: the kernel plan (bridge, firewall, veths), then the store; a
 * failure undoes what was done and leaves the model as it was. The engine runs these in
 * its operation queue.
 */
export class NetworkService {
  constructor(
    private readonly ctx: EngineContext,
    /** This host's side of the cluster; absent outside one. */
    private readonly cluster?: ClusterSync,
  ) {}

  /** What `network create` checks a request against: the other networks, the host's routes, links and nameservers. */
  private async createContext(planOnly = false): Promise<NetworkCreateContext> {
    return {
      existing: this.ctx.networks.all(),
      routes: hostRoutes().filter(routeClaimsSubnet),
      nameservers: [...this.ctx.config.dnsServers, ...parseResolvConf(await readHostFile(this.ctx.config.hostResolvConfPath)).nameservers],
      pools: this.ctx.config.defaultBridge.pools,
      drivers: this.ctx.deps.drivers,
      // Options ask only whether links exist: the kernel answers name by name.
      live: hostLinkPresence(),
      planOnly,
    };
  }

  /**
   * `network create --dry-run`: the network's plan, and what a first container on it would
   * get (its endpoint joined, default route included), without changing anything. A driver
   * this kernel cannot run still plans, with a warning saying why it could not be applied.
   */
  async plan(request: CreateNetworkRequest): Promise<{ network: Plan; firstEndpoint: Plan; warnings: string[] }> {
    // A global network's plan shows the VXLAN id it would get now; none is reserved.
    const vni = this.cluster ? await firstFreeVni(this.cluster.link.store) : FIRST_VNI;
    const record = newNetwork(request, { ...(await this.createContext(true)), vni });
    const driver = this.ctx.networks.driverOf(record);
    const network = driverNetwork(record);
    const now = this.ctx.ports.firewallModel();
    const added = driver.firewall?.(network);
    const firewall = added ? [this.ctx.deps.firewall.changeNetworks(`add network ${record.name}`, { before: now, after: { ...now, networks: [...now.networks, added] }, added: [added], removed: [] })] : [];
    const pool = new LocalIpam();
    await pool.addPool(record.id, record.ipam.subnets);
    const address = await pool.allocate(record.id);
    const names = driver.createEndpoint(network, { ifname: 'eth0', address, takenHostNames: this.ctx.containers.takenHostIfnames() });
    const endpoint = { id: 'planned', ...names, address, prefixLength: parseCidr(subnetHolding(record.ipam.subnets, address).subnet).prefixLength };
    const netns = sandboxName(record.id);
    const availability = this.ctx.deps.drivers.availability(record.driver);
    return {
      network: [...driver.createNetwork(network), ...firewall],
      firstEndpoint: joinPlan(netns, driver.join(network, netns, endpoint), !record.internal),
      warnings: availability.available ? [] : [`${availability.reason}: this plan cannot be applied on this host`],
    };
  }

  /** A new network of any driver: the driver's objects, the firewall's share, IPAM's pool, the record. */
  async create(request: CreateNetworkRequest): Promise<AddressedNetwork> {
    const { networks, deps } = this.ctx;
    if (this.cluster && deps.drivers.get(request.driver === '' ? 'bridge' : request.driver).capabilities.scope === 'global') {
      return createGlobalNetwork(this.ctx, this.cluster, request, await this.createContext());
    }
    const record = newNetwork(request, await this.createContext());
    const driver = networks.driverOf(record);
    const before = this.ctx.ports.firewallModel();
    networks.add(record);
    try {
      const plan: KernelOp[] = [...driver.createNetwork(driverNetwork(record))];
      const added = driver.firewall?.(driverNetwork(record));
      if (added) plan.push(deps.firewall.changeNetworks(`add network ${record.name}`, { before, after: this.ctx.ports.firewallModel(), added: [added], removed: [] }));
      // The intent first: a crash between two of the plan's steps leaves links that carry
      // no owner alias yet (the kernel sets none at creation), which only it can name.
      await deps.runStore.put('network-intents', record.id, record);
      await inTransaction(deps.executor, async (tx) => {
        await tx.apply(plan);
        deps.faultHook?.('network-created');
        await deps.ipam.addPool(record.id, record.ipam.subnets);
        tx.onRollback(() => deps.ipam.removePool(record.id));
        await deps.store.create('networks', record.id, record);
      });
    } catch (err) {
      networks.remove(record.id);
      // The transaction undid what it made (or said what it could not).
      await deps.runStore.delete('network-intents', record.id);
      throw err;
    }
    await deps.runStore.delete('network-intents', record.id);
    return record;
  }

  /**
   * The gateway bridge (berth_gwbridge): a local bridge network with NAT out, made the
   * first time a container needs it and then kept, as Docker keeps docker_gwbridge.
   */
  async gatewayBridge(): Promise<AddressedNetwork> {
    const existing = this.ctx.networks.find(GATEWAY_BRIDGE);
    if (existing && hasAddresses(existing)) return existing;
    return this.create({
      name: GATEWAY_BRIDGE,
      driver: 'bridge',
      internal: false,
      attachable: false,
      labels: {},
      options: { 'com.docker.network.bridge.name': GATEWAY_BRIDGE },
      ipam: [],
    });
  }

  /** `byOwner`: the runtime that made the network through berth's plugin removes it (dockerd's `network rm`). */
  async remove(ref: string, opts: { readonly byOwner?: boolean } = {}): Promise<NetworkRecord> {
    const { networks, deps } = this.ctx;
    const network = this.checkedRemove(ref, opts);
    const users = this.usersOf(network.id);
    if (network.scope === 'global' && this.cluster) {
      await removeGlobalNetwork(this.ctx, this.cluster, network, users.map((c) => c.name));
      return network;
    }
    this.checkUnused(network);
    const plan = this.removalPlan(network);
    networks.remove(network.id);
    try {
      await inTransaction(deps.executor, async (tx) => {
        await tx.apply(plan);
        await deps.store.delete('networks', network.id);
      });
      await deps.ipam.removePool(network.id);
    } catch (err) {
      networks.add(network);
      throw err;
    }
    return network;
  }

  /** `network rm`, explained. An overlay's removal is a cluster-wide agreement, not one plan: not explained yet. */
  planRemove(ref: string): Plan {
    const network = this.checkedRemove(ref, {});
    if (network.scope === 'global') throw new InvalidArgumentError(`network ${network.name} spans hosts: explaining its removal is not supported`, 'explain a local network, or its containers');
    this.checkUnused(network);
    return this.removalPlan(network);
  }

  /**
   * Rules first (undoable), links last: deleting a link cannot be undone. Objects someone
   * already deleted are not an error: the network goes all the same.
   */
  private removalPlan(network: AddressedNetwork): Plan {
    const driver = this.ctx.networks.driverOf(network);
    const deletion = driver.deleteNetwork(driverNetwork(network), hostLinkPresence());
    if (!driver.firewall) return deletion;
    const before = this.ctx.ports.firewallModel();
    const bridge = driver.firewall(driverNetwork(network)).bridge;
    const gone = before.networks.filter((n) => n.bridge === bridge);
    const after = { ...before, networks: before.networks.filter((n) => !gone.includes(n)) };
    return [this.ctx.deps.firewall.changeNetworks(`remove network ${network.name}`, { before, after, added: [], removed: gone }), ...deletion];
  }

  private checkedRemove(ref: string, opts: { readonly byOwner?: boolean }): AddressedNetwork {
    const network = this.ctx.networks.get(ref);
    if ((BUILTIN_NETWORKS as readonly string[]).includes(network.name) || !hasAddresses(network)) {
      throw new ConflictError(`${network.name} is a pre-defined network and cannot be removed`);
    }
    const owner = network.labels[EXTERNAL_OWNER_LABEL];
    if (owner !== undefined && !opts.byOwner) {
      throw new ConflictError(`network ${network.name} belongs to ${owner}, which made it through berth's plugin`, `remove it there (docker network rm)`);
    }
    const external = this.ctx.external.onNetwork(network.id);
    if (external.length > 0) {
      throw new ConflictError(`network ${network.name} has active endpoints of ${owner ?? 'another runtime'}: ${external.map((r) => r.endpoint.id.slice(0, 12)).join(', ')}`, 'remove those containers first');
    }
    return network;
  }

  private checkUnused(network: AddressedNetwork): void {
    const users = this.usersOf(network.id);
    if (users.length > 0) {
      throw new ConflictError(
        `network ${network.name} has active endpoints: ${users.map((c) => c.name).join(', ')}`,
        `disconnect them first (berth network disconnect ${network.name} NAME) or remove those containers`,
      );
    }
  }

  /** Removes every user-defined network no container uses that `selects` picks (but those another runtime owns); returns their names. */
  async prune(selects: (n: NetworkRecord) => boolean): Promise<string[]> {
    const unused = this.ctx.networks.all().filter((n) => isUserDefined(n) && n.labels[EXTERNAL_OWNER_LABEL] === undefined && this.usersOf(n.id).length === 0 && selects(n));
    const removed: string[] = [];
    for (const n of unused) removed.push((await this.remove(n.id)).name);
    return removed;
  }

  async connect(networkRef: string, containerRef: string, endpoint: EndpointRequest): Promise<ContainerRecord> {
    const { container, network, attachment } = await this.checkedConnect(networkRef, containerRef, endpoint);
    if (container.state.status !== 'running') {
      // No sandbox (created, or exited: it went at the exit): the endpoint is made at start, with the others.
      return this.save({ ...container, networks: [...container.networks, attachment] });
    }
    const { deps } = this.ctx;
    return inTransaction(deps.executor, async (tx) => {
      const ep = await this.newEndpoint(container, network, attachment);
      tx.onRollback(() => releaseEndpoint(deps.ipam, ep));
      await tx.apply(endpointsUpPlan(this.ctx.networks, container, [ep], { createNetns: false }));
      const embeddedDns = (await switchToEmbeddedDns(this.ctx, container, network, tx)) || container.embeddedDns;
      return this.save({ ...container, networks: [...container.networks, attachment], endpoints: [...container.endpoints, ep], embeddedDns });
    });
  }

  /** `network connect`, explained: the steps with the endpoint it would get now (its address held only while planning). */
  async planConnect(networkRef: string, containerRef: string, endpoint: EndpointRequest): Promise<ExplainedPlan> {
    const { container, network, attachment } = await this.checkedConnect(networkRef, containerRef, endpoint);
    if (container.state.status !== 'running') return { plan: [], names: [] };
    const ep = await this.newEndpoint(container, network, attachment);
    try {
      return { plan: endpointsUpPlan(this.ctx.networks, container, [ep], { createNetns: false }), names: namesOf(this.ctx, { name: container.name, networks: [attachment] }, [ep]) };
    } finally {
      await releaseEndpoint(this.ctx.deps.ipam, ep);
    }
  }

  private async checkedConnect(networkRef: string, containerRef: string, endpoint: EndpointRequest): Promise<{ container: ContainerRecord; network: AddressedNetwork; attachment: NetworkAttachment }> {
    const { networks, containers, deps } = this.ctx;
    const container = containers.get(containerRef);
    this.checkMovable(container, 'connected to');
    const network = attachableNetwork(networks, networkRef);
    if (container.networks.some((a) => a.networkId === network.id)) {
      throw new ConflictError(`container ${container.name} is already connected to network ${network.name}`);
    }
    checkNetworkCount(container.networks.length + 1, container.name);
    return { container, network, attachment: await checkedAttachment(network, endpoint, deps.ipam) };
  }

  /** The next interface of a running container, on `network`; it carries the default route if none does yet and the network leads out. */
  private newEndpoint(container: ContainerRecord, network: AddressedNetwork, attachment: NetworkAttachment): Promise<EndpointRecord> {
    const { networks, containers, deps } = this.ctx;
    const gatewayEndpoint = networks.leadsOut(network) && !container.endpoints.some((e) => e.gatewayEndpoint);
    return allocateEndpoint(networks, deps.ipam, attachment, { ifname: nextIfname(container.endpoints), gatewayEndpoint }, containers.takenHostIfnames());
  }

  /**
   * Takes the container off the network: its interface there goes, its address is freed.
   * When that interface carried the default route, the next endpoint on a network with a
   * way out takes it over, with the published ports.
   */
  async disconnect(networkRef: string, containerRef: string): Promise<ContainerRecord> {
    const planned = this.planDisconnect(networkRef, containerRef);
    if (!planned.endpoint) return this.save(planned.moved);
    const { endpoint } = planned;
    const { deps } = this.ctx;
    // One transaction, undoable steps first (the plan's order): the ports move (or go), the
    // default route moves, and only then the interface goes (a deleted link cannot be brought back).
    return inTransaction(deps.executor, async (tx) => {
      await tx.apply(planned.plan);
      const saved = await this.save(planned.moved);
      await releaseEndpoint(deps.ipam, endpoint);
      return saved;
    });
  }

  /**
   * `network disconnect`'s steps and the record after it (also what `berth explain
   * disconnect` prints). `endpoint` is the interface that goes, absent for a container
   * that has none there (created, or exited).
   */
  planDisconnect(networkRef: string, containerRef: string): { plan: Plan; moved: ContainerRecord; endpoint?: EndpointRecord } {
    const { networks, containers } = this.ctx;
    const container = containers.get(containerRef);
    const network = networks.get(networkRef);
    if (!hasAddresses(network)) throw new ConflictError(`container ${container.name} cannot be disconnected from the built-in ${network.name} network`, 'remove the container instead');
    this.checkMovable(container, 'disconnected from');
    if (!container.networks.some((a) => a.networkId === network.id)) {
      throw new NotFoundError(`container ${container.name} is not connected to network ${network.name}`);
    }
    const networksLeft = container.networks.filter((a) => a.networkId !== network.id);
    const endpoint = container.endpoints.find((e) => e.networkId === network.id);
    if (!endpoint) return { plan: [], moved: { ...container, networks: networksLeft } };

    const rest = container.endpoints.filter((e) => e !== endpoint);
    const heir = endpoint.gatewayEndpoint ? rest.find((e) => networks.leadsOut(networks.addressedById(e.networkId))) : undefined;
    const endpointsLeft = rest.map((e) => (e === heir ? { ...e, gatewayEndpoint: true } : e));
    const carriesPorts = endpoint.gatewayEndpoint && container.ports.length > 0 && container.state.status === 'running';
    // The ports follow the new gateway endpoint if its network maps ports; otherwise they go.
    const portsFollow = heir !== undefined && networks.publishesPorts(networks.addressedById(heir.networkId));
    const moved: ContainerRecord = { ...container, networks: networksLeft, endpoints: endpointsLeft, ports: carriesPorts && !portsFollow ? [] : container.ports };
    const guard = container.state.status === 'running' ? guardChange(`container ${container.name} off ${network.name}`, { removed: [endpoint] }) : undefined;
    const leaving = networks.driverOf(network).leave(driverNetwork(network), container.netns, driverEndpoint(endpoint), { sandboxGoing: false });
    // A host link someone already deleted is not planned again (its peer went with it).
    const hostLinkGone = endpoint.hostIfname !== undefined && !hostLinkExists(endpoint.hostIfname);
    const plan: KernelOp[] = [
      ...(carriesPorts ? [this.ctx.ports.movePlan(container, moved)] : []),
      ...(heir ? this.moveDefaultRoute(container.netns, endpoint, heir, carriesPorts && portsFollow) : []),
      ...(guard ? [guard] : []),
      ...(hostLinkGone ? [] : leaving),
    ];
    return { plan, moved, endpoint };
  }

  /** The default route moves from `from` to `heir` (with its published ports' hairpin), as each one's join info says. */
  private moveDefaultRoute(netns: string, from: EndpointRecord, heir: EndpointRecord, carriesPorts: boolean): KernelOp[] {
    const routeOf = (ep: EndpointRecord) => {
      const network = this.ctx.networks.addressedById(ep.networkId);
      return this.ctx.networks.driverOf(network).join(driverNetwork(network), netns, driverEndpoint(ep)).info.defaultRoute;
    };
    const ops: KernelOp[] = [];
    const old = routeOf(from);
    const next = routeOf(heir);
    if (old) ops.push({ kind: 'route-del', netns, dst: 'default', ...old });
    if (next) ops.push({ kind: 'route-add', netns, dst: 'default', ...next });
    const heirNetwork = this.ctx.networks.addressedById(heir.networkId);
    if (carriesPorts) ops.push(...(this.ctx.networks.driverOf(heirNetwork).externalConnectivity?.(driverNetwork(heirNetwork), driverEndpoint(heir)) ?? []));
    return ops;
  }

  /** Host-, none- and container-mode containers have no endpoints of their own to move. */
  private checkMovable(container: ContainerRecord, verb: string): void {
    const mode = parseNetworkMode(container.networkMode);
    if (mode.kind === 'bridge') return;
    const shared = mode.kind === 'container' ? `container:${this.ctx.containers.byIdExact(mode.container)?.name ?? mode.container}` : describeMode(mode);
    throw new ConflictError(`container ${container.name} uses ${shared}: it cannot be ${verb} networks`, 'only containers on networks with addresses (bridge, macvlan, ipvlan) can be');
  }

  /** Containers configured for or attached to the network. */
  usersOf(networkId: string): ContainerRecord[] {
    return this.ctx.containers.all().filter((c) => c.networks.some((a) => a.networkId === networkId) || c.endpoints.some((e) => e.networkId === networkId));
  }

  private async save(record: ContainerRecord): Promise<ContainerRecord> {
    await this.ctx.records.save(record);
    this.ctx.containers.set(record);
    return record;
  }
}
