import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError } from '../common/errors.js';
import type { ContainerTable } from './containers.js';
import { containerDir, type EngineContext } from './context.js';
import { allocateEndpoints, attachmentsFor, releaseEndpoint } from './endpoints.js';
import type { ContainerRecord, EndpointRecord } from './model.js';
import { parseNetworkMode } from './modes.js';
import { hostsFileContent, resolvConfContent, sandboxUpPlan } from './sandbox.js';
import type { Transaction } from './transaction.js';

/** Where a starting container's processes go, and the directory of the files they see. */
export interface SandboxSetup {
  /** Namespace under /run/netns to enter; "" = the host's. */
  readonly netns: string;
  readonly endpoints: readonly EndpointRecord[];
  /** Holds the `hosts` and `resolv.conf` bind-mounted into the container. */
  readonly filesDir: string;
}

/**
 * The network side of starting a container, by mode, each step undone by `tx` if a later
 * one fails:
 *  - bridge: its own namespace, one endpoint per configured network;
 *  - none: its own namespace with lo only;
 *  - host: the host's stack, with copies of the host's hosts and resolv.conf (its loopback
 *    nameservers work there);
 *  - container: the namespace and files of another container, which must be running.
 */
export async function setUpSandbox(ctx: EngineContext, container: ContainerRecord, tx: Transaction): Promise<SandboxSetup> {
  const dir = containerDir(ctx.config, container.id);
  await mkdir(dir, { recursive: true });
  tx.onRollback(() => rm(dir, { recursive: true, force: true }));
  const mode = parseNetworkMode(container.networkMode);
  switch (mode.kind) {
    case 'bridge':
    case 'none': {
      const endpoints = allocateEndpoints(ctx.networks, container.networks, takenHostNames(ctx.containers));
      tx.onRollback(() => endpoints.forEach((ep) => releaseEndpoint(ctx.networks, ep)));
      const hostResolv = await readOptional(ctx.config.hostResolvConfPath);
      await writeFile(join(dir, 'hosts'), hostsFileContent(container.hostname, endpoints.map((e) => e.address)));
      await writeFile(join(dir, 'resolv.conf'), resolvConfContent(hostResolv));
      await tx.apply(sandboxUpPlan(container.netns, attachmentsFor(ctx.networks, ctx.deps.drivers, endpoints), { createNetns: true }));
      return { netns: container.netns, endpoints, filesDir: dir };
    }
    case 'host': {
      await copyFile(ctx.config.hostHostsPath, join(dir, 'hosts')).catch(() => writeFile(join(dir, 'hosts'), hostsFileContent(container.hostname, [])));
      await writeFile(join(dir, 'resolv.conf'), await readOptional(ctx.config.hostResolvConfPath));
      return { netns: '', endpoints: [], filesDir: dir };
    }
    case 'container': {
      const peer = ctx.containers.byIdExact(mode.container);
      if (!peer || peer.state.status !== 'running') {
        throw new ConflictError(
          `cannot join the network namespace of container ${peer?.name ?? mode.container}: it is ${peer ? 'not running' : 'gone'}`,
          'start a container to share, e.g. berth run -d --name peer -- sleep 1000',
        );
      }
      return { netns: peer.netns, endpoints: [], filesDir: containerDir(ctx.config, peer.id) };
    }
  }
}

/** Host-side veth names in use, so a new one never clashes. */
export function takenHostNames(containers: ContainerTable): Set<string> {
  return new Set(containers.all().flatMap((c) => c.endpoints.map((e) => e.hostIfname)));
}

async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return ''; // a host without the file gives containers an empty one, as it has itself
  }
}
