import { join } from 'node:path';
import type { DriverRegistry } from '../drivers/registry.js';
import type { Ipam } from '../ipam/ipam.js';
import type { NameService, ResolverSource } from '../dns/resolver.js';
import type { FirewallBackend } from '../firewall/backend.js';
import type { Executor } from '../kernel/exec.js';
import type { Store } from '../store/store.js';
import type { ContainerRecords } from './container-records.js';
import type { ContainerTable } from './containers.js';
import type { DefaultBridgeOptions } from './default-bridge.js';
import type { NetworkTable } from './networks.js';
import type { PortPublisher } from './publisher.js';

export interface EngineConfig {
  readonly dataRoot: string;
  /** The default bridge, and the address pools every network's subnet comes from. */
  readonly defaultBridge: DefaultBridgeOptions;
  readonly hostResolvConfPath: string;
  /** The host's /etc/hosts, which host-mode containers get a copy of. */
  readonly hostHostsPath: string;
  /** dockerd's --dns: nameservers for every container, instead of the host's. */
  readonly dnsServers: readonly string[];
  /** How long `stop` waits after SIGTERM before SIGKILL (Docker: 10 s). */
  readonly stopTimeoutMs: number;
}

export interface EngineDeps {
  readonly store: Store;
  readonly executor: Executor;
  readonly drivers: DriverRegistry;
  /** Where endpoint addresses come from. */
  readonly ipam: Ipam;
  readonly firewall: FirewallBackend;
  /** The backends not in use: their leftovers (an earlier run with another --firewall) are removed at start. */
  readonly retiredFirewalls: readonly FirewallBackend[];
  /** Makes the embedded DNS resolver, given the engine's view of names. */
  readonly nameService: (source: ResolverSource) => NameService;
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
  readonly ports: PortPublisher;
  readonly names: NameService;
}

/** Where a container's own files live: logs, exit code, hosts, resolv.conf. */
export function containerDir(config: Pick<EngineConfig, 'dataRoot'>, id: string): string {
  return join(config.dataRoot, 'containers', id);
}

/** The file a container's wrapper writes its command's exit code to; it also names the container in the wrapper's command line. */
export function exitCodePath(config: Pick<EngineConfig, 'dataRoot'>, id: string): string {
  return join(containerDir(config, id), 'exitcode');
}
