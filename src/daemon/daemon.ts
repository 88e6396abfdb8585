import { chmod, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { newId } from '../common/ids.js';
import { join, resolve } from 'node:path';
import type { HiddenPaths } from '../kernel/process.js';
import { grantApiAccess, listenUnix } from '../api/server.js';
import { listenPlugins } from '../plugin/server.js';
import { listenWeb } from '../web/server.js';
import { BerthError, InvalidArgumentError } from '../common/errors.js';
import { parseCidr } from '../common/ipv4.js';
import { builtinDrivers } from '../drivers/registry.js';
import { FIREWALL_BACKENDS, type FirewallBackend, type FirewallBackendName } from '../firewall/backend.js';
import { iptablesBackend } from '../firewall/iptables.js';
import { nftablesBackend } from '../firewall/nftables.js';
import { Engine, type EngineConfig, type FaultHook } from '../engine/engine.js';
import { containersRoot } from '../engine/context.js';
import { ClusterIpam } from '../ipam/cluster.js';
import { LocalIpam } from '../ipam/local.js';
import { ScopedIpam } from '../ipam/scoped.js';
import { StoredAddressClaims } from '../engine/address-claims.js';
import { probeKernelFeatures } from '../kernel/features.js';
import { writeDaemonSettings, type DaemonSettings } from './settings.js';
import { ClusterMembership, type ClusterOptions } from './cluster.js';
import { BatchExecutor, type Executor } from '../kernel/exec.js';
import { closeOnExecAll } from '../kernel/close-on-exec.js';
import { NetlinkExecutor } from '../kernel/netlink/executor.js';
import { watchNftables, watchRouting } from '../kernel/netlink/rtnl.js';
import { openMountTemplate, type MountTemplate } from '../kernel/mount-template.js';
import { ContainerLauncher } from '../kernel/launcher.js';
import { findLaunchTools, type LaunchTools } from '../kernel/launch-tools.js';
import { linkOfAddress } from '../kernel/read.js';
import { spreadSubdirectories } from '../kernel/directory-spread.js';
import { runTool } from '../kernel/spawn.js';
import { LocalStore } from '../store/local.js';
import { EmbeddedResolver } from '../dns/resolver.js';
import { checkUsableSubnet, DOCKER_DEFAULT_POOLS } from '../ipam/subnets.js';
import { readBuildInfo } from './build-info.js';

export interface DaemonOptions extends DaemonSettings {
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly socketPath: string;
  /** How plans reach the kernel: in-process rtnetlink (default) or `ip -batch` processes. */
  readonly executor: ExecutorKind;
  /** Part of a cluster of hosts sharing an etcd cluster store (--cluster-store). */
  readonly cluster?: ClusterOptions;
  /** Where to serve dockerd as its network and IPAM plugin (--docker-plugins). */
  readonly dockerPluginDir?: string;
  /** Where to serve the topology page (--web); absent: not served. */
  readonly web?: { readonly host: string; readonly port: number };
  /** How often drift is looked for and repaired (--repair-interval); absent or 0: only at start and on demand. */
  readonly repairIntervalMs?: number;
}

export function parseFirewallName(value: string): FirewallBackendName {
  const name = FIREWALL_BACKENDS.find((b) => b === value);
  if (!name) throw new BerthError('invalid_argument', `invalid --firewall "${value}"`, `use one of: ${FIREWALL_BACKENDS.join(', ')}`);
  return name;
}

export const EXECUTOR_KINDS = ['netlink', 'ip'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

export function parseExecutorKind(value: string): ExecutorKind {
  const kind = EXECUTOR_KINDS.find((k) => k === value);
  if (!kind) throw new BerthError('invalid_argument', `invalid --executor "${value}"`, `use one of: ${EXECUTOR_KINDS.join(', ')}`);
  return kind;
}

function executorFor(kind: ExecutorKind): Executor {
  return kind === 'netlink' ? new NetlinkExecutor() : new BatchExecutor();
}

export const DAEMON_DEFAULTS = { dataRoot: '/var/lib/berth', execRoot: '/run/berth', bridge: 'berth0', executor: 'netlink', firewall: 'nftables' } as const;

/**
 * The composition root: the one place that picks implementations (store, executor,
 * drivers) and wires them together. Tests and benchmarks build their own variants.
 */
export async function startDaemon(
  options: DaemonOptions,
  executor: Executor = executorFor(options.executor),
  faultHook?: FaultHook,
  /** Test composition roots put a hook before berth-init; the daemon finds the real ones. */
  launchTools?: LaunchTools,
): Promise<{ engine: Engine; webUrl?: string; stop(): Promise<void> }> {
  if (process.getuid?.() !== 0) {
    throw new BerthError('permission', 'berth daemon must run as root: it creates namespaces, links and firewall rules', 'run it with sudo');
  }
  validateOptions(options);
  // What the daemon inherited is not for the containers it starts.
  closeOnExecAll();
  await checkTools(options.firewall);
  const tools = launchTools ?? findLaunchTools();
  // Only root may read berth's state: records, logs, the pidfile (the API socket has its own mode).
  await privateDirectory(options.execRoot);
  const releasePidfile = await claimPidfile(join(options.execRoot, 'berth.pid'));
  let mountTemplate: MountTemplate | undefined;
  let launcher: ContainerLauncher | undefined;
  try {
    mountTemplate = await openMountTemplate();
    launcher = new ContainerLauncher(tools.init, mountTemplate.fd);
    const features = await probeKernelFeatures();
    await privateDirectory(options.dataRoot);
    await prepareContainersRoot(options.dataRoot);
    await writeDaemonSettings(options.dataRoot, options);
    // The overlay's MTU follows the link the VTEP address is on (the underlay's minus VXLAN's 50 bytes).
    const underlay = options.cluster ? advertisedLink(options.cluster.advertise) : undefined;
    // Joined first: global networks and their endpoints are part of what the engine loads.
    const cluster = options.cluster ? await ClusterMembership.join(options.cluster, (m) => console.error(m)) : undefined;
    // Beside dockerd (its plugin, or its chains found): open its FORWARD chain to berth's traffic.
    const dockerCoexistence = options.dockerPluginDir !== undefined || (await dockerChainsPresent());
    const engine = await Engine.open({ ...engineConfig(options), dockerCoexistence, hiddenFromContainers: hiddenFromContainers(options), containerLaunch: { launcher, tools } }, {
      store: new LocalStore(join(options.dataRoot, 'store')),
      runStore: new LocalStore(join(options.execRoot, 'store')),
      executor,
      drivers: builtinDrivers(features, { vtep: cluster?.hostAddress, underlayMtu: underlay?.mtu }),
      ipam: new ScopedIpam(new LocalIpam(), cluster ? new ClusterIpam(new StoredAddressClaims(cluster.store), cluster.hostAddress) : undefined),
      firewall: firewallBackend(options.firewall),
      retiredFirewalls: FIREWALL_BACKENDS.filter((b) => b !== options.firewall).map(firewallBackend),
      nameService: (source) => new EmbeddedResolver(source),
      ...(cluster ? { cluster } : {}),
      ...(faultHook ? { faultHook } : {}),
    }).catch(async (err: unknown) => {
      await cluster?.leave();
      throw err;
    });
    const server = await listenUnix(engine, options.socketPath, await readBuildInfo(), {
      id: await daemonId(options.dataRoot),
      dataRoot: options.dataRoot,
      firewall: options.firewall,
      executor: options.executor,
      ...(options.cluster ? { clusterStore: options.cluster.endpoints.join(','), clusterAdvertise: options.cluster.advertise } : {}),
      ...(options.dockerPluginDir ? { dockerPluginDir: options.dockerPluginDir } : {}),
    });
    const plugins = options.dockerPluginDir ? await listenPlugins(options.dockerPluginDir, engine) : undefined;
    const web = options.web ? await listenWeb(engine, options.web) : undefined;
    // Who may use the API may open the page: the address with its token, readable as the socket is.
    if (web) await writeWebUrl(join(options.execRoot, WEB_URL_FILE), web.url);
    const repairs = options.repairIntervalMs ? repairPeriodically(engine, options.repairIntervalMs) : undefined;
    return {
      engine,
      ...(web ? { webUrl: web.url } : {}),
      async stop() {
        repairs?.stop();
        await web?.close();
        await rm(join(options.execRoot, WEB_URL_FILE), { force: true });
        await plugins?.close();
        await engine.close();
        await cluster?.leave();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await rm(options.socketPath, { force: true });
        launcher?.close();
        mountTemplate?.close();
        await releasePidfile();
      },
    };
  } catch (err) {
    launcher?.close();
    mountTemplate?.close();
    await releasePidfile();
    throw err;
  }
}

/**
 * Drift repair every `intervalMs` (a check that finds nothing costs an in-process digest
 * and a firewall presence check), and sooner after a change berth did not make to the
 * host's links, addresses or nftables ruleset or to a sandbox's routing; a check still
 * running when the next is due is not doubled.
 */
/** How many periods in a row the backstop check may wait for berth's own plans to pause. */
const MAX_DEFERRED_CHECKS = 20;

function repairPeriodically(engine: Engine, intervalMs: number): { stop(): void } {
  // Netlink events bring a check forward; the period is the backstop (iptables-legacy, missed events).
  const watches = [watchRouting(() => engine.hostChanged(), { routes: false, busy: true }), watchNftables(() => engine.rulesChanged())];
  engine.repairContinuously();
  let running = false;
  let deferred = 0;
  const timer = setInterval(() => {
    if (running) return;
    // In a burst of operations the check waits (it runs in the operation queue, so each
    // request would wait for it), but never for more than MAX_DEFERRED_CHECKS periods.
    if (engine.busyWithOwnPlans() && deferred < MAX_DEFERRED_CHECKS) {
      deferred++;
      return;
    }
    deferred = 0;
    running = true;
    engine
      .repairDrift({ dryRun: false })
      .catch((err: unknown) => console.error(`berth: drift repair failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      for (const watch of watches) watch.close();
    },
  };
}

/** `dir`, made if missing, with mode 0700 (also when it existed with another). */
async function privateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/**
 * The data root's directory of containers' directories, made before any of them so that the
 * filesystem spreads them apart (kernel/directory-spread.ts says why): each is made at its
 * container's first start, with two log files, and 1,000 removed together leave 3,000 freed
 * inodes where the next ones would go. Only a hint: a filesystem without it places them as
 * it would have.
 */
async function prepareContainersRoot(dataRoot: string): Promise<void> {
  const dir = containersRoot({ dataRoot });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  spreadSubdirectories(dir);
}

/** The daemon's id (`docker info` ID): made once, kept in the data root. */
async function daemonId(dataRoot: string): Promise<string> {
  const path = join(dataRoot, 'engine-id');
  const stored = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f]{64}$/.test(stored)) return stored;
  const id = newId();
  await writeFile(path, `${id}\n`);
  return id;
}

/** Whether dockerd's DOCKER-USER chain exists (dockerd ran or runs here); false without iptables. */
async function dockerChainsPresent(): Promise<boolean> {
  const result = await runTool('iptables', ['-w', '-n', '-L', 'DOCKER-USER']).catch(() => undefined);
  return result?.code === 0;
}

/** The link holding the --cluster-advertise address: other hosts send VXLAN traffic to it, so it must be this host's. */
function advertisedLink(address: string): { readonly name: string; readonly mtu: number } {
  const link = linkOfAddress(address);
  if (!link) throw new InvalidArgumentError(`--cluster-advertise ${address} is not an address of this host`, "give this host's IPv4 address on the network the hosts share (ip -4 addr show)");
  return link;
}

/** The engine's configuration for these settings (the daemon's, or the offline planner's copy of them). */
/**
 * What containers must not see of berth, so none can drive the daemon: its data root, its
 * exec root, the plugin sockets' directory, and the API socket when it is outside them.
 * A path inside another hidden directory is covered by it already.
 */
export function hiddenFromContainers(options: Pick<DaemonOptions, 'dataRoot' | 'execRoot' | 'socketPath' | 'dockerPluginDir'>): HiddenPaths {
  const dirs = [options.dataRoot, options.execRoot, ...(options.dockerPluginDir ? [options.dockerPluginDir] : [])].map((d) => resolve(d));
  const inside = (path: string, dir: string) => path !== dir && path.startsWith(`${dir}/`);
  const directories = [...new Set(dirs)].filter((d) => !dirs.some((other) => inside(d, other)));
  const socket = resolve(options.socketPath);
  return { directories, files: directories.some((d) => inside(socket, d)) ? [] : [socket] };
}

export function engineConfig(settings: DaemonSettings & { readonly dataRoot: string; readonly execRoot: string }): EngineConfig {
  return {
    hiddenFromContainers: { directories: [], files: [] },
    dataRoot: settings.dataRoot,
    execRoot: settings.execRoot,
    defaultBridge: { bridge: settings.bridge, bip: settings.bip, pools: settings.addressPools.length > 0 ? settings.addressPools : DOCKER_DEFAULT_POOLS },
    hostResolvConfPath: '/etc/resolv.conf',
    hostHostsPath: '/etc/hosts',
    dnsServers: settings.dnsServers,
    stopTimeoutMs: 10_000,
  };
}

export function firewallBackend(name: FirewallBackendName): FirewallBackend {
  return name === 'iptables' ? iptablesBackend : nftablesBackend;
}

function validateOptions(options: DaemonOptions): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/.test(options.bridge)) {
    throw new BerthError('invalid_argument', `invalid --bridge "${options.bridge}"`, 'a link name of 1-15 characters from [a-zA-Z0-9_.-]');
  }
  if (options.bip !== undefined) {
    const bip = parseCidr(options.bip);
    if (bip.address === bip.network || bip.prefixLength > 30) {
      throw new BerthError('invalid_argument', `invalid --bip "${options.bip}": give the bridge's own address with its prefix`, 'for example --bip 172.17.0.1/16');
    }
    checkUsableSubnet({ network: bip.network, prefixLength: bip.prefixLength }, '--bip');
  }
}

/**
 * Every tool berth spawns, checked once at start so a missing one is a clear error, not a
 * failed attach; those containers start through are found by findLaunchTools.
 */
async function checkTools(firewall: FirewallBackendName): Promise<void> {
  // unshare makes the mount template (once, here): util-linux's, from the daemon's PATH.
  const tools: [string, string[]][] = [['ip', ['-V']], ['unshare', ['-V']]];
  // nft with either backend: the anti-spoofing guard is a bridge-family nftables table.
  tools.push(['nft', ['-v']]);
  if (firewall === 'iptables') tools.push(['iptables-restore', ['--version']]);
  for (const [tool, args] of tools) await runTool(tool, args);
}

/** One daemon per exec-root: a second one would fight the first over the same bridge and namespaces. */
async function claimPidfile(path: string): Promise<() => Promise<void>> {
  try {
    const existing = Number((await readFile(path, 'utf8')).trim());
    if (existing > 0 && existing !== process.pid && (await isBerthDaemon(existing))) {
      throw new BerthError('conflict', `a berth daemon is already running (pid ${existing}, pidfile ${path})`, 'stop it first, or use another --exec-root');
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
  }
  const handle = await open(path, 'w');
  await handle.writeFile(`${process.pid}\n`);
  await handle.close();
  return () => rm(path, { force: true });
}

/**
 * Whether `pid` is a running berth daemon. A pidfile left by a daemon that was killed can
 * name a pid the system has since given to another process (soon, in a small pid
 * namespace): only a process with "daemon" in its command line counts (`berth daemon`,
 * the test composition roots *-daemon.js).
 */
async function isBerthDaemon(pid: number): Promise<boolean> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  return argv.some((a) => a.includes('daemon'));
}

/** Beside the API socket: the topology page's address with its token (berth daemon --web). */
export const WEB_URL_FILE = 'web-url';

async function writeWebUrl(path: string, url: string): Promise<void> {
  await writeFile(path, `${url}\n`, { mode: 0o600 });
  await grantApiAccess(path);
}
