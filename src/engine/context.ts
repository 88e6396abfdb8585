import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DriverRegistry } from '../drivers/registry.js';
import type { Ipam } from '../ipam/ipam.js';
import type { NameService, ResolverSource } from '../dns/resolver.js';
import type { FirewallBackend } from '../firewall/backend.js';
import type { Executor } from '../kernel/exec.js';
import type { CollectionWatch, WatchEvent } from '../store/etcd-watch.js';
import type { Collection, Store } from '../store/store.js';
import type { ContainerRecords } from './container-records.js';
import type { ContainerTable } from './containers.js';
import type { DefaultBridgeOptions } from './default-bridge.js';
import type { ExternalEndpointTable } from './external/endpoints.js';
import type { NetworkTable } from './networks.js';
import type { PortPublisher } from './publisher.js';
import type { LaunchTools } from '../kernel/launch-tools.js';
import type { ContainerLauncher } from '../kernel/launcher.js';
import type { HiddenPaths } from '../kernel/process.js';

export interface EngineConfig {
  /** What outlives a reboot: records, logs, exit codes. */
  readonly dataRoot: string;
  /** What lives as long as the kernel's objects (a tmpfs, /run/berth): each run's files of a container. */
  readonly execRoot: string;
  /** The default bridge, and the address pools every network's subnet comes from. */
  readonly defaultBridge: DefaultBridgeOptions;
  readonly hostResolvConfPath: string;
  /** The host's /etc/hosts, which host-mode containers get a copy of. */
  readonly hostHostsPath: string;
  /** dockerd's --dns: nameservers for every container, instead of the host's. */
  readonly dnsServers: readonly string[];
  /** How long `stop` waits after SIGTERM before SIGKILL (Docker: 10 s). */
  readonly stopTimeoutMs: number;
  /** dockerd runs (or will) on this host: its FORWARD chain must let berth's traffic through (firewall/dockerd.ts). */
  readonly dockerCoexistence?: boolean;
  /** berth's paths no container may see (its data and exec roots, API and plugin sockets). */
  readonly hiddenFromContainers: HiddenPaths;
  /** What the daemon starts containers' processes with; absent (the offline planner), the engine starts none. */
  readonly containerLaunch?: ContainerLaunch;
}

/** What a container's processes are started with, which only the daemon makes. */
export interface ContainerLaunch {
  /** What forks containers' first processes (kernel/launcher.ts). */
  readonly launcher: ContainerLauncher;
  /** The programs they are started through, by absolute path. */
  readonly tools: LaunchTools;
}

/**
 * This host's membership of a cluster (`--cluster-store`): what networks that span hosts
 * (overlay) are kept in and learn each other's endpoints from.
 */
export interface ClusterLink {
  /** This host's --cluster-advertise address: its VTEP, and its name in the cluster. */
  readonly hostAddress: string;
  /** What the hosts share (etcd): global networks, address claims, VNIs. */
  readonly store: Store;
  /** A collection of the shared store as it changes (a full read first, resynced after compactions). */
  watch(collection: Collection, handler: (events: readonly WatchEvent[]) => void): Promise<CollectionWatch>;
  /** A value that lives as long as this host's membership (its endpoints): gone from every peer's view when it dies. */
  putHeld(collection: Collection, id: string, value: unknown): Promise<void>;
  deleteHeld(collection: Collection, id: string): Promise<void>;
}

export interface EngineDeps {
  readonly store: Store;
  /**
   * Records that describe kernel objects being made (a network's creation in progress), kept
   * in the exec root: a reboot takes them with the objects, and writing one costs a tmpfs
   * write, not the data root's disk (0.5-0.7 ms a new file on this VM's ext4).
   */
  readonly runStore: Store;
  readonly executor: Executor;
  readonly drivers: DriverRegistry;
  /** Where endpoint addresses come from. */
  readonly ipam: Ipam;
  readonly firewall: FirewallBackend;
  /** The backends not in use: their leftovers (an earlier run with another --firewall) are removed at start. */
  readonly retiredFirewalls: readonly FirewallBackend[];
  /** Makes the embedded DNS resolver, given the engine's view of names. */
  readonly nameService: (source: ResolverSource) => NameService;
  /** The cluster this host belongs to, if any: without it, overlay networks cannot be made. */
  readonly cluster?: ClusterLink;
  /** Tests only: called at the points where a crash is hardest to recover from. */
  readonly faultHook?: FaultHook;
}

/**
 * The moments between a kernel change and the record of it: a daemon killed there leaves
 * kernel objects (or a process) no record knows yet, which reconcile must clean up.
 */
export type FaultPoint = 'container-launched' | 'network-created';
export type FaultHook = (point: FaultPoint) => void;

/** What the engine's parts share: configuration, dependencies and the in-memory model. */
export interface EngineContext {
  readonly config: EngineConfig;
  readonly deps: EngineDeps;
  readonly networks: NetworkTable;
  readonly containers: ContainerTable;
  /** Where containers and their endpoints are persisted. */
  readonly records: ContainerRecords;
  /** Endpoints of sandboxes another runtime owns (dockerd's, berth being its plugin). */
  readonly external: ExternalEndpointTable;
  readonly ports: PortPublisher;
  readonly names: NameService;
}

/** The directory of every container's directory in the data root (made by the daemon at start: daemon.ts says how). */
export function containersRoot(config: Pick<EngineConfig, 'dataRoot'>): string {
  return join(config.dataRoot, 'containers');
}

/** Where a container's files that outlive a reboot live: logs, exit code, its stdin FIFO. */
export function containerDir(config: Pick<EngineConfig, 'dataRoot'>, id: string): string {
  return join(containersRoot(config), id);
}

/**
 * Where the files of a container's current run live: hosts, resolv.conf, mount table. Each
 * start writes them again and they mean nothing after a reboot, so they are in the exec root
 * (as Podman keeps them in its runroot): a file made on tmpfs costs ~0.03 ms, on the data
 * root's ext4 0.5-0.7 ms here, three of them at every start.
 */
export function runDir(config: Pick<EngineConfig, 'execRoot'>, id: string): string {
  return join(config.execRoot, 'containers', id);
}

/**
 * Where a running container's hosts and resolv.conf are: its run directory, or, for one a
 * daemon from before run directories started (it kept them beside the logs) and this one
 * adopted, that directory, until the container's next start.
 */
export function runFilesDir(config: Pick<EngineConfig, 'dataRoot' | 'execRoot'>, id: string): string {
  const dir = runDir(config, id);
  if (existsSync(dir)) return dir;
  const earlier = containerDir(config, id);
  return existsSync(join(earlier, 'hosts')) ? earlier : dir;
}

/** The file a container's berth-init writes its command's exit code to; it also names the container in berth-init's command line. */
export function exitCodePath(config: Pick<EngineConfig, 'dataRoot'>, id: string): string {
  return join(containerDir(config, id), 'exitcode');
}
