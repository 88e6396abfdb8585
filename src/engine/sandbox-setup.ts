import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '../common/errors.js';
import { runDir, runFilesDir, type EngineContext } from './context.js';
import { allocateEndpoints, releaseEndpoint } from './endpoints.js';
import { DEFAULT_NETWORK, firstSubnet, hasAddresses, type AddressedNetwork, type ContainerRecord, type EndpointRecord, type NetworkRecord } from './model.js';
import { parseNetworkMode } from './modes.js';
import { extraHostLines, hostModeHostsFile, hostsFileContent, linkLine, readHostFile, resolvConfFor, type HostsLine } from './container-files.js';
import type { Transaction } from './transaction.js';
import { endpointsUpPlan } from './sandbox-plans.js';

/** Where a starting container's processes go, and the directory of the files they see. */
export interface SandboxSetup {
  /** Namespace under /run/netns to enter; "" = the host's. */
  readonly netns: string;
  readonly endpoints: readonly EndpointRecord[];
  /** Holds the `hosts` and `resolv.conf` bind-mounted into the container. */
  readonly filesDir: string;
  /** Whether its resolv.conf points at the embedded resolver (listening in its namespace). */
  readonly embeddedDns: boolean;
}

/**
 * The network side of starting a container, by mode, each step undone by `tx` if a later
 * one fails:
 *  - bridge (any network with addresses): its own namespace, one endpoint per configured
 *    network; on a user-defined network, the embedded resolver listens inside it;
 *  - none: its own namespace with lo only;
 *  - host: the host's stack, with copies of the host's hosts and resolv.conf (its loopback
 *    nameservers work there);
 *  - container: the namespace and files of another container, which must be running.
 */
export async function setUpSandbox(
  ctx: EngineContext,
  container: ContainerRecord,
  tx: Transaction,
  /** The gateway bridge network, made if it does not exist yet. */
  gatewayBridge: () => Promise<AddressedNetwork>,
): Promise<SandboxSetup> {
  const dir = runDir(ctx.config, container.id);
  // The run's small files are made synchronously: on tmpfs a file takes ~0.03 ms that way, where
  // each asynchronous call waits for the thread pool (~0.3 ms idle, 1-3 ms while other containers set up).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  tx.onRollback(() => rm(dir, { recursive: true, force: true }));
  const mode = parseNetworkMode(container.networkMode);
  const hostResolv = await readHostFile(ctx.config.hostResolvConfPath);
  const extraHosts = extraHostLines(container.extraHosts, defaultGateway(ctx));
  switch (mode.kind) {
    case 'bridge':
    case 'none': {
      const links = linkLines(ctx, container);
      const attachments = [...container.networks, ...(needsGatewayBridge(ctx, container) ? [{ networkId: (await gatewayBridge()).id, aliases: [] }] : [])];
      const endpoints = await allocateEndpoints(ctx.networks, ctx.deps.ipam, attachments, ctx.containers.takenHostIfnames());
      tx.onRollback(async () => {
        for (const ep of endpoints) await releaseEndpoint(ctx.deps.ipam, ep);
      });
      const embeddedDns = endpoints.some((ep) => ctx.networks.servesNames(ctx.networks.byIdExact(ep.networkId)));
      writeFileSync(join(dir, 'hosts'), hostsFileContent(container.hostname, endpoints.map((e) => e.address), [...extraHosts, ...links]));
      writeFileSync(join(dir, 'resolv.conf'), resolvConfFor(embeddedDns ? 'embedded' : 'direct', hostResolv, ctx.config.dnsServers, container.dns));
      await tx.apply(endpointsUpPlan(ctx.networks, container, endpoints, { createNetns: true }));
      if (embeddedDns) {
        ctx.names.attach(container.id, container.netns);
        tx.onRollback(() => ctx.names.detach(container.id));
      }
      return { netns: container.netns, endpoints, filesDir: dir, embeddedDns };
    }
    case 'host': {
      writeFileSync(join(dir, 'hosts'), hostModeHostsFile(await readHostFile(ctx.config.hostHostsPath), extraHosts));
      writeFileSync(join(dir, 'resolv.conf'), resolvConfFor('host', hostResolv, ctx.config.dnsServers, container.dns));
      return { netns: '', endpoints: [], filesDir: dir, embeddedDns: false };
    }
    case 'container': {
      const peer = ctx.containers.byIdExact(mode.container);
      if (!peer || peer.state.status !== 'running') {
        throw new ConflictError(
          `cannot join the network namespace of container ${peer?.name ?? mode.container}: it is ${peer ? 'not running' : 'gone'}`,
          'start a container to share, e.g. berth run -d --name peer -- sleep 1000',
        );
      }
      return { netns: peer.netns, endpoints: [], filesDir: runFilesDir(ctx.config, peer.id), embeddedDns: false };
    }
  }
}

/**
 * A running container connected to its first network that serves names (it started on
 * the default bridge) switches to the embedded resolver, as Docker's does: the resolver
 * listens in its namespace and its resolv.conf (a bind mount of the file rewritten here,
 * the same inode) points at it. Returns whether it switched.
 */
export async function switchToEmbeddedDns(ctx: EngineContext, container: ContainerRecord, network: NetworkRecord, tx: Transaction): Promise<boolean> {
  if (container.embeddedDns || container.state.status !== 'running' || !ctx.networks.servesNames(network)) return false;
  const path = join(runFilesDir(ctx.config, container.id), 'resolv.conf');
  const before = await readFile(path, 'utf8');
  ctx.names.attach(container.id, container.netns);
  tx.onRollback(() => ctx.names.detach(container.id));
  await writeFile(path, resolvConfFor('embedded', await readHostFile(ctx.config.hostResolvConfPath), ctx.config.dnsServers, container.dns));
  tx.onRollback(() => writeFile(path, before));
  return true;
}

/**
 * A container on a network that wants a way out its driver cannot give (an overlay not
 * `--internal`), and on no network that gives one, gets an endpoint on the gateway bridge
 * for its default route and published ports; it is not one of its configured networks,
 * as Docker's docker_gwbridge endpoint is not.
 */
function needsGatewayBridge(ctx: EngineContext, container: ContainerRecord): boolean {
  const networks = container.networks.map((a) => ctx.networks.addressedById(a.networkId));
  return networks.some((n) => ctx.networks.exitsThroughGatewayBridge(n)) && !networks.some((n) => ctx.networks.leadsOut(n));
}

/**
 * The /etc/hosts lines of `--link`s: each target must be running and share a network with
 * the container; its address there is what the alias names (one way: the target learns
 * nothing, as the seed shows).
 */
function linkLines(ctx: EngineContext, container: ContainerRecord): HostsLine[] {
  return container.links.map((link) => {
    const target = ctx.containers.byIdExact(link.containerId);
    if (!target || target.state.status !== 'running') {
      throw new ConflictError(`cannot link to container ${target?.name ?? link.containerId}: it is not running`, 'start it first, or drop the --link');
    }
    const shared = target.endpoints.find((ep) => container.networks.some((a) => a.networkId === ep.networkId));
    if (!shared) {
      throw new ConflictError(`cannot link to container ${target.name}: it is on no network of container ${container.name}`, 'links work between containers on the same network');
    }
    return linkLine(target, link.alias, shared.address);
  });
}

/** What host-gateway means in `--add-host`: the default bridge's address, as in Docker. */
function defaultGateway(ctx: EngineContext): string {
  const bridge = ctx.networks.find(DEFAULT_NETWORK);
  return bridge && hasAddresses(bridge) ? (firstSubnet(bridge).gateway ?? '') : '';
}
