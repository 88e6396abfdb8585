import { ConflictError } from '../common/errors.js';
import { bridgeOf } from '../drivers/bridge/driver.js';
import { OWNER_ALIAS_PREFIX, type RecordedEndpoint } from '../drivers/driver.js';
import type { DriverRegistry } from '../drivers/registry.js';
import type { FirewallBackend } from '../firewall/backend.js';
import { dockerCoexistenceOp } from '../firewall/dockerd.js';
import type { Ipam } from '../ipam/ipam.js';
import { routeClaimsSubnet } from '../ipam/subnets.js';
import type { Executor } from '../kernel/exec.js';
import type { KernelOp } from '../kernel/ops.js';
import { isSameProcessAlive } from '../kernel/process-identity.js';
import { hostLinkNames, hostRoutes, listNetns, readSysctl } from '../kernel/read.js';
import { reapLeftovers } from '../kernel/reaper.js';
import { hostLinkPresence, readKernelView, type KernelView } from '../kernel/view.js';
import type { Store } from '../store/store.js';
import type { ContainerRecords } from './container-records.js';
import type { ContainerTable } from './containers.js';
import { checkBipIsFree, defaultBridgeRecord, type DefaultBridgeOptions } from './default-bridge.js';
import { driverEndpoint } from './endpoints.js';
import type { ExternalEndpointRecord } from './external/endpoints.js';
import { DEFAULT_NETWORK, hasAddresses, MODE_NETWORK, subnetsText, parseNetworkRecord, type ContainerRecord, type NetworkRecord } from './model.js';
import { ownsSandbox, parseNetworkMode } from './modes.js';
import { driverNetwork, nullNetworkRecord, type NetworkTable } from './networks.js';
import { firewallPortsOf } from './ports.js';
import { SANDBOX_PREFIX } from './sandbox.js';
import { inTransaction } from './transaction.js';
import { replaceGuards } from '../firewall/guard.js';
import { guardedOf } from './guards.js';

export interface ReconcileContext {
  readonly store: Store;
  /** Where network intents are (EngineDeps.runStore; `store` too, for an earlier release's). */
  readonly runStore: Store;
  readonly records: ContainerRecords;
  /** Endpoints of dockerd's containers (berth being its plugin): their addresses, links and ports are berth's to keep. */
  readonly externalEndpoints: readonly ExternalEndpointRecord[];
  /** Networks that span hosts, from the cluster store (none without a cluster). */
  readonly globalNetworks: readonly NetworkRecord[];
  readonly executor: Executor;
  readonly drivers: DriverRegistry;
  readonly ipam: Ipam;
  readonly firewall: FirewallBackend;
  readonly retiredFirewalls: readonly FirewallBackend[];
  readonly networks: NetworkTable;
  readonly containers: ContainerTable;
  readonly defaultBridge: DefaultBridgeOptions;
  /** Whether to open dockerd's FORWARD chain to berth's traffic. */
  readonly dockerCoexistence: boolean;
  markExited(id: string): Promise<void>;
  /** Kills what starts cut short by a crash left of created containers (their processes, their namespaces). */
  discardUnfinishedStarts(containers: readonly ContainerRecord[]): Promise<void>;
}

/**
 * Makes the kernel and the store agree when the daemon starts, in both directions:
 *  - networks: each driver repairs its networks against one read of the kernel (objects
 *    missing, detached or down; endpoints of running containers gone); ip_forward and
 *    berth's firewall rules are written whole;
 *  - containers still running are adopted; those that died while the daemon was down are
 *    marked exited;
 *  - namespaces and links berth made but no record knows (a crash between apply and
 *    persist, a killed daemon) are removed.
 * Docker users know the alternative well: veths and rules leaked after crashes
 * (moby/moby#15151).
 */
export async function reconcile(ctx: ReconcileContext): Promise<{ runningAdopted: string[] }> {
  const { containers: stored, strayEndpoints } = await ctx.records.load();
  // Endpoint records of a save cut short: no container lists them, no address is theirs.
  await ctx.records.deleteStrays(strayEndpoints);
  const networks = (await ctx.store.list('networks')).map((s) => parseNetworkRecord(s.value));
  await removeAbandonedNetworks(ctx, networks);
  await loadNetworks(ctx, networks, stored);
  const containers = stored.map((c) => withConfiguredNetwork(ctx.networks, c));
  for (const c of containers) ctx.containers.set(c);
  await reserveAddresses(ctx, containers);
  const running: ContainerRecord[] = [];
  for (const c of containers.filter((c) => c.state.status === 'running')) {
    if (await isSameProcessAlive(c.state.pid, c.state.startTime)) running.push(c);
    else await ctx.markExited(c.id);
  }
  const sandboxes = running.filter((c) => ownsSandbox(parseNetworkMode(c.networkMode)));
  const live = await readKernelView(sandboxes.map((c) => ({ netns: c.netns, pid: c.state.pid })));
  await repairNetworks(ctx, sandboxes, live);
  await ctx.discardUnfinishedStarts(containers.filter((c) => c.state.status === 'created'));
  // Read again: repairing the networks may have given a link berth found (another data
  // root's default bridge, say) to a network of this one, and that link is no orphan.
  await removeOrphans(ctx, await readKernelView());
  // Links an earlier daemon took out of service and had not deleted yet when it stopped.
  reapLeftovers(await hostLinkNames());
  return { runningAdopted: running.map((c) => c.id) };
}

/**
 * Networks whose creation a crash cut short: an intent without a network record. Their
 * links go by the names the intent gives (they may lack berth's owner alias: the kernel
 * sets none at creation, so a crash between the two steps leaves a bare link).
 */
async function removeAbandonedNetworks(ctx: ReconcileContext, networks: readonly NetworkRecord[]): Promise<void> {
  // In the exec root's store; a release before it kept them with the records.
  for (const store of [ctx.runStore, ctx.store]) {
    const intents = await store.list('network-intents');
    if (intents.length === 0) continue;
    const recorded = new Set(networks.map((n) => n.id));
    const view = hostLinkPresence();
    const abandoned = intents.map((i) => parseNetworkRecord(i.value)).filter(hasAddresses).filter((n) => !recorded.has(n.id));
    await ctx.executor.apply(abandoned.flatMap((n) => ctx.drivers.get(n.driver).deleteNetwork(driverNetwork(n), view)));
    for (const i of intents) await store.delete('network-intents', i.id);
  }
}

/**
 * The network records (the default bridge as the flags now say, host and none always),
 * their address pools, and the host-wide state every network relies on: ip_forward and
 * the firewall's whole ruleset. The default bridge may change only while no container uses it.
 */
async function loadNetworks(ctx: ReconcileContext, stored: NetworkRecord[], containers: ContainerRecord[]): Promise<void> {
  const routes = hostRoutes().filter(routeClaimsSubnet);
  const storedDefault = stored.filter(hasAddresses).find((n) => n.name === DEFAULT_NETWORK);
  const desiredDefault = defaultBridgeRecord(ctx.defaultBridge, routes, storedDefault);
  if (storedDefault && desiredDefault !== storedDefault) {
    const users = containers.filter((c) => c.endpoints.some((e) => e.networkId === storedDefault.id));
    if (users.length > 0) {
      throw new ConflictError(
        `cannot change the default bridge to ${bridgeOf(desiredDefault.driverData)} ${subnetsText(desiredDefault)}: containers ${users.map((c) => c.name).join(', ')} are attached to ${bridgeOf(storedDefault.driverData)} ${subnetsText(storedDefault)}`,
        'remove them first, or start the daemon with the previous --bip/--bridge',
      );
    }
  }
  if (ctx.defaultBridge.bip) checkBipIsFree(desiredDefault, routes);
  // host and none always exist; made once, they keep their ids.
  const builtins = (['host', 'none'] as const).map((name) => stored.find((n) => n.name === name) ?? nullNetworkRecord(name));
  const addressed = [desiredDefault, ...stored.filter(hasAddresses).filter((n) => n.name !== DEFAULT_NETWORK)];
  const global = ctx.globalNetworks.filter(hasAddresses);
  const newRecords = [...builtins.filter((n) => !stored.includes(n)), ...(desiredDefault !== storedDefault ? [desiredDefault] : [])];
  for (const n of [...addressed, ...global, ...builtins]) ctx.networks.add(n);
  for (const n of addressed) await ctx.ipam.addPool(n.id, n.ipam.subnets);
  for (const n of global) await ctx.ipam.addPool(n.id, n.ipam.subnets, 'global');

  const ops: KernelOp[] = [];
  if (storedDefault && bridgeOf(storedDefault.driverData) !== bridgeOf(desiredDefault.driverData)) {
    ops.push(...ctx.networks.driverOf(storedDefault).deleteNetwork(driverNetwork(storedDefault), hostLinkPresence()));
  }
  const forwarding = await readSysctl('net.ipv4.ip_forward');
  if (forwarding !== '1') ops.push(ipForwardingOn(forwarding));
  // A previous run with another --firewall may have left its rules forwarding host ports
  // to addresses the next containers will get: they go before berth's rules are written.
  for (const retired of ctx.retiredFirewalls) ops.push(retired.removeAll(`remove the rules of the ${retired.name} backend (not in use)`));
  // Ports of containers recorded as running; those found dead later are unpublished then.
  const externalPorts = ctx.externalEndpoints.flatMap((r) => r.ports.map((p) => ({ ...p, containerIp: r.endpoint.address })));
  ops.push(ctx.firewall.replaceAll('berth networks and published ports', ctx.networks.firewallModel([...containers.flatMap(firewallPortsOf), ...externalPorts])));
  if (ctx.dockerCoexistence) ops.push(dockerCoexistenceOp(ctx.firewall.name));
  // Those found dead later stop being guarded when they are marked exited.
  ops.push(replaceGuards('anti-spoofing for running containers', guardedOf(containers.filter((c) => c.state.status === 'running').flatMap((c) => c.endpoints))));

  await inTransaction(ctx.executor, async (tx) => {
    await tx.apply(ops);
    for (const n of newRecords) await ctx.store.put('networks', n.id, n);
  }).catch(async (err: unknown) => {
    for (const n of ctx.networks.all()) {
      ctx.networks.remove(n.id);
      await ctx.ipam.removePool(n.id);
    }
    throw err;
  });
}

/**
 * Containers stored before user-defined networks existed list no networks: one created but
 * never started gets the network its mode names (parseContainerRecord marks it with
 * MODE_NETWORK), so it starts where it always would have. A container disconnected from
 * every network lists none and keeps none.
 */
function withConfiguredNetwork(networks: NetworkTable, c: ContainerRecord): ContainerRecord {
  if (!c.networks.some((a) => a.networkId === MODE_NETWORK)) return c;
  const mode = parseNetworkMode(c.networkMode);
  const network = mode.kind === 'bridge' ? networks.find(mode.network) : undefined;
  return { ...c, networks: network && hasAddresses(network) ? [{ networkId: network.id, aliases: [] }] : [] };
}

async function reserveAddresses(ctx: ReconcileContext, containers: ContainerRecord[]): Promise<void> {
  const endpoints = [...containers.flatMap((c) => c.endpoints), ...ctx.externalEndpoints.map((r) => r.endpoint)];
  for (const ep of endpoints) {
    if (ctx.networks.byIdExact(ep.networkId)) await ctx.ipam.allocate(ep.networkId, ep.address);
  }
}

/**
 * Each driver's repair of each network against the one view of the kernel. A running
 * container whose namespace pin someone deleted gets it back first (its endpoints are
 * joined through the name). A network that cannot be repaired (a user's parent link is
 * gone) is reported and skipped: the others, and the daemon, come up all the same; the
 * default bridge failing is fatal, as every default container needs it.
 */
async function repairNetworks(ctx: ReconcileContext, sandboxes: readonly ContainerRecord[], live: KernelView): Promise<void> {
  const namespaces = new Set(await listNetns());
  const pins: KernelOp[] = sandboxes.filter((c) => !namespaces.has(c.netns)).map((c) => ({ kind: 'netns-attach', name: c.netns, pid: c.state.pid }));
  await ctx.executor.apply(pins);
  const runningIds = new Set(sandboxes.map((c) => c.id));
  for (const network of ctx.networks.addressed()) {
    const endpoints = recordedEndpointsOf(network.id, ctx.containers.all(), runningIds, ctx.externalEndpoints);
    try {
      await ctx.executor.apply(ctx.networks.driverOf(network).repair(driverNetwork(network), endpoints, live));
    } catch (err) {
      if (network.name === DEFAULT_NETWORK) throw err;
      console.error(`berth: network ${network.name} could not be repaired: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/**
 * A network's endpoints as its driver's repair sees them: every container's (those of
 * running ones must exist), and dockerd's, which are known (their links are no strays) but
 * never joined again here: their sandboxes are dockerd's.
 */
export function recordedEndpointsOf(
  networkId: string,
  containers: readonly ContainerRecord[],
  runningIds: ReadonlySet<string>,
  external: readonly ExternalEndpointRecord[],
): RecordedEndpoint[] {
  const endpoints: RecordedEndpoint[] = containers.flatMap((c) =>
    c.endpoints
      .filter((e) => e.networkId === networkId)
      .map((e) => ({ netns: c.netns, endpoint: driverEndpoint(e), running: runningIds.has(c.id), gatewayEndpoint: e.gatewayEndpoint, carriesPorts: e.gatewayEndpoint && c.ports.length > 0 })),
  );
  for (const r of external.filter((r) => r.endpoint.networkId === networkId)) {
    endpoints.push({ netns: '', endpoint: driverEndpoint(r.endpoint), running: false, gatewayEndpoint: false, carriesPorts: false });
  }
  return endpoints;
}

/**
 * Removes what berth made but no record owns: namespaces named berth-*, and host links
 * carrying a network's alias (bridges, parents, host links of a crash between creating
 * them and writing the record). Links without berth's alias are never touched.
 */
async function removeOrphans(ctx: ReconcileContext, live: KernelView): Promise<void> {
  const knownNetns = new Set(ctx.containers.all().map((c) => c.netns));
  const ops: KernelOp[] = [];
  for (const link of live.links.values()) {
    const owner = link.alias?.startsWith(OWNER_ALIAS_PREFIX) ? link.alias.slice(OWNER_ALIAS_PREFIX.length) : undefined;
    if (owner !== undefined && !ctx.networks.byIdExact(owner)) ops.push({ kind: 'link-del', dev: link.name });
  }
  for (const ns of await listNetns()) {
    if (ns.startsWith(SANDBOX_PREFIX) && !knownNetns.has(ns)) ops.push({ kind: 'netns-del', name: ns });
  }
  await ctx.executor.apply(ops);
}

/** The host routes between its bridges and the uplink, which every network with a way out needs; `restore` is the value to put back on rollback. */
export function ipForwardingOn(restore?: string): KernelOp {
  return { kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1', ...(restore === undefined ? {} : { restore }) };
}
