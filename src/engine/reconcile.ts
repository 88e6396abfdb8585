import { ConflictError } from '../common/errors.js';
import { parseIpv4 } from '../common/ipv4.js';
import { BRIDGE_ALIAS_PREFIX } from '../drivers/bridge.js';
import type { NetworkDriver } from '../drivers/driver.js';
import type { FirewallBackend } from '../firewall/backend.js';
import { routeClaimsSubnet } from '../ipam/subnets.js';
import type { Executor } from '../kernel/exec.js';
import type { KernelOp } from '../kernel/ops.js';
import { isSameProcessAlive } from '../kernel/process.js';
import { hostLinkNames, hostLinks, hostRoutes, linkAddresses, listNetns, readSysctl, type HostLink } from '../kernel/read.js';
import type { Store } from '../store/store.js';
import type { ContainerTable } from './containers.js';
import { isBridgeNetwork, parseContainerRecord, parseNetworkRecord, type BridgeNetworkRecord, type ContainerRecord, type NetworkRecord } from './model.js';
import { ownsSandbox, parseNetworkMode } from './modes.js';
import { checkBipIsFree, defaultBridgeRecord, driverFor, networkSpec, nullNetworkRecord, type DefaultBridgeOptions, type NetworkTable } from './networks.js';
import { attachmentsFor } from './endpoints.js';
import { firewallPortsOf } from './ports.js';
import { SANDBOX_PREFIX, sandboxUpPlan } from './sandbox.js';
import { inTransaction } from './transaction.js';

export interface ReconcileContext {
  readonly store: Store;
  readonly executor: Executor;
  readonly drivers: ReadonlyMap<string, NetworkDriver>;
  readonly firewall: FirewallBackend;
  readonly retiredFirewalls: readonly FirewallBackend[];
  readonly networks: NetworkTable;
  readonly containers: ContainerTable;
  readonly defaultBridge: DefaultBridgeOptions;
  markExited(id: string): Promise<void>;
  /** Kills what starts cut short by a crash left of created containers (their processes, their namespaces). */
  discardUnfinishedStarts(containers: readonly ContainerRecord[]): Promise<void>;
}

/**
 * Makes the kernel and the store agree when the daemon starts, in both directions:
 *  - networks: the bridge, its address, ip_forward and berth's firewall table exist;
 *  - containers still running keep (or get back) their namespace and endpoints;
 *    containers that died while the daemon was down are marked exited;
 *  - namespaces and veths berth owns but no record knows (a crash between apply and
 *    persist, a killed daemon) are removed.
 * Docker users know the alternative well: veths and rules leaked after crashes
 * (moby/moby#15151).
 */
export async function reconcile(ctx: ReconcileContext): Promise<{ runningAdopted: string[] }> {
  const stored = (await ctx.store.list('containers')).map(parseContainerRecord);
  const networks = (await ctx.store.list('networks')).map(parseNetworkRecord);
  await reconcileNetworks(ctx, networks, stored);
  const containers = stored.map((c) => withConfiguredNetwork(ctx.networks, c));
  for (const c of containers) ctx.containers.set(c);
  reserveAddresses(ctx, containers);
  const runningAdopted = await reconcileContainers(ctx, containers);
  await removeOrphans(ctx);
  return { runningAdopted };
}

async function reconcileNetworks(ctx: ReconcileContext, stored: NetworkRecord[], containers: ContainerRecord[]): Promise<void> {
  const routes = (await hostRoutes()).filter(routeClaimsSubnet);
  const storedBridges = stored.filter(isBridgeNetwork);
  const storedDefault = storedBridges.find((n) => n.name === 'bridge');
  const desiredDefault = defaultBridgeRecord(ctx.defaultBridge, routes, storedDefault);
  if (storedDefault && desiredDefault !== storedDefault) {
    const users = containers.filter((c) => c.endpoints.some((e) => e.networkId === storedDefault.id));
    if (users.length > 0) {
      throw new ConflictError(
        `cannot change the default bridge to ${desiredDefault.bridge} ${desiredDefault.subnet}: containers ${users.map((c) => c.name).join(', ')} are attached to ${storedDefault.bridge} ${storedDefault.subnet}`,
        'remove them first, or start the daemon with the previous --bip/--bridge',
      );
    }
  }
  if (ctx.defaultBridge.bip) checkBipIsFree(desiredDefault, routes);
  const bridges = [desiredDefault, ...storedBridges.filter((n) => n.name !== 'bridge')];
  // host and none always exist; made once, they keep their ids.
  const builtins = (['host', 'none'] as const).map((name) => stored.find((n) => n.name === name) ?? nullNetworkRecord(name));
  const newRecords = [...builtins.filter((n) => !stored.includes(n)), ...(desiredDefault !== storedDefault ? [desiredDefault] : [])];

  const links = await hostLinkNames();
  const ops: KernelOp[] = [];
  if (storedDefault && storedDefault.bridge !== desiredDefault.bridge && links.has(storedDefault.bridge)) {
    ops.push(...driverFor(ctx.drivers, storedDefault).deleteNetwork(networkSpec(storedDefault)));
  }
  for (const net of bridges) ops.push(...(await repairNetworkPlan(ctx, net, links)));
  const forwarding = await readSysctl('net.ipv4.ip_forward');
  if (forwarding !== '1') ops.push({ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1', restore: forwarding });
  for (const n of bridges) {
    // Lets the host reach published ports through 127.0.0.1: DNAT'd packets with a
    // loopback source may then leave by the bridge (Docker sets the same).
    ops.push({ kind: 'sysctl', key: `net.ipv4.conf.${n.bridge}.route_localnet`, value: '1' });
  }
  for (const n of [...bridges, ...builtins]) ctx.networks.add(n);
  // A previous run with another --firewall may have left its rules forwarding host ports
  // to addresses the next containers will get: they go before berth's rules are written.
  for (const retired of ctx.retiredFirewalls) ops.push(retired.removeAll(`remove the rules of the ${retired.name} backend (not in use)`));
  // Ports of containers recorded as running; those found dead later are unpublished then.
  ops.push(ctx.firewall.replaceAll('berth networks and published ports', ctx.networks.firewallModel(containers.flatMap(firewallPortsOf))));

  await inTransaction(ctx.executor, async (tx) => {
    await tx.apply(ops);
    for (const n of newRecords) await ctx.store.put('networks', n.id, n);
  }).catch((err: unknown) => {
    for (const n of ctx.networks.all()) ctx.networks.remove(n.id);
    throw err;
  });
}

/**
 * Containers stored before user-defined networks existed list no networks; one created but
 * never started gets the network its mode names, so it starts where it always would have.
 */
function withConfiguredNetwork(networks: NetworkTable, c: ContainerRecord): ContainerRecord {
  const mode = parseNetworkMode(c.networkMode);
  if (mode.kind !== 'bridge' || c.networks.length > 0 || c.endpoints.length > 0) return c;
  const network = networks.find(mode.network);
  return network && isBridgeNetwork(network) ? { ...c, networks: [{ networkId: network.id, aliases: [] }] } : c;
}

/** Whatever of a bridge network is missing: the whole bridge, or just its address or state. */
async function repairNetworkPlan(ctx: ReconcileContext, net: BridgeNetworkRecord, links: ReadonlySet<string>): Promise<KernelOp[]> {
  const create = driverFor(ctx.drivers, net).createNetwork(networkSpec(net));
  if (!links.has(net.bridge)) return [...create];
  const addresses = await linkAddresses(net.bridge);
  // The bridge exists: keep it (containers may hang off it) and re-add only what is missing.
  return create.filter((op) => (op.kind === 'addr-add' ? !addresses.includes(op.cidr) : op.kind === 'link-up' || op.kind === 'link-alias'));
}

function reserveAddresses(ctx: ReconcileContext, containers: ContainerRecord[]): void {
  for (const c of containers) {
    for (const ep of c.endpoints) {
      if (ctx.networks.byIdExact(ep.networkId)) ctx.networks.pool(ep.networkId).reserve(parseIpv4(ep.address));
    }
  }
}

/** Returns the ids of containers found running (the daemon adopts them). */
async function reconcileContainers(ctx: ReconcileContext, containers: ContainerRecord[]): Promise<string[]> {
  const adopted: string[] = [];
  const links = new Map((await hostLinks()).map((l) => [l.name, l]));
  const namespaces = new Set(await listNetns());
  for (const c of containers) {
    if (c.state.status === 'running' && (await isSameProcessAlive(c.state.pid, c.state.startTime))) {
      if (ownsSandbox(parseNetworkMode(c.networkMode))) await restoreSandbox(ctx, c, links, namespaces);
      adopted.push(c.id);
    } else if (c.state.status === 'running') {
      await ctx.markExited(c.id);
    }
  }
  await ctx.discardUnfinishedStarts(containers.filter((c) => c.state.status === 'created'));
  return adopted;
}

/**
 * Re-creates what someone deleted under a running container: its netns pin, its veths,
 * and a veth's place on its bridge (a deleted and re-created bridge has no ports). The
 * port that carries published ports gets hairpin again, so the container still reaches
 * its own ports through a host address.
 */
async function restoreSandbox(ctx: ReconcileContext, c: ContainerRecord, links: ReadonlyMap<string, HostLink>, namespaces: ReadonlySet<string>): Promise<void> {
  const ops: KernelOp[] = [];
  if (!namespaces.has(c.netns)) ops.push({ kind: 'netns-attach', name: c.netns, pid: c.state.pid });
  const attachments = attachmentsFor(ctx.networks, ctx.drivers, c.endpoints);
  const missing = attachments.filter((a) => !links.has(a.endpoint.hostIfname));
  if (missing.length > 0) ops.push(...sandboxUpPlan(c.netns, missing, { createNetns: false }));
  const detached = attachments.filter((a) => links.has(a.endpoint.hostIfname) && links.get(a.endpoint.hostIfname)?.master !== a.network.bridge);
  for (const a of detached) ops.push({ kind: 'port-attach', dev: a.endpoint.hostIfname, master: a.network.bridge }, { kind: 'link-up', dev: a.endpoint.hostIfname });
  const portCarrier = c.ports.length > 0 ? attachments.find((a) => a.endpoint.isGatewayEndpoint) : undefined;
  if (portCarrier && (missing.includes(portCarrier) || detached.includes(portCarrier))) ops.push({ kind: 'port-hairpin', dev: portCarrier.endpoint.hostIfname });
  await ctx.executor.apply(ops);
}

/**
 * Removes what berth made but no record owns: namespaces named berth-*, veths on its
 * bridges, and bridges carrying its alias (a crash between creating a network's bridge and
 * writing its record). Bridges without berth's alias are never touched, whatever their name.
 */
async function removeOrphans(ctx: ReconcileContext): Promise<void> {
  const known = ctx.containers.all();
  const knownNetns = new Set(known.map((c) => c.netns));
  const knownVeths = new Set(known.flatMap((c) => c.endpoints.map((e) => e.hostIfname)));
  const ops: KernelOp[] = [];
  // One read of every host link (kind, master, alias) serves both checks: no `ip` process per bridge.
  const bridges = new Set(ctx.networks.bridges().map((n) => n.bridge));
  for (const link of await hostLinks()) {
    const owner = link.kind === 'bridge' && link.alias?.startsWith(BRIDGE_ALIAS_PREFIX) ? link.alias.slice(BRIDGE_ALIAS_PREFIX.length) : undefined;
    if (owner !== undefined && !ctx.networks.byIdExact(owner)) ops.push({ kind: 'link-del', dev: link.name });
    const strayPort = link.master !== undefined && bridges.has(link.master) && /^veth[0-9a-f]{7}$/.test(link.name) && !knownVeths.has(link.name);
    if (strayPort) ops.push({ kind: 'link-del', dev: link.name });
  }
  for (const ns of await listNetns()) {
    if (ns.startsWith(SANDBOX_PREFIX) && !knownNetns.has(ns)) ops.push({ kind: 'netns-del', name: ns });
  }
  await ctx.executor.apply(ops);
}
