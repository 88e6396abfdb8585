import { cpus, hostname, release, totalmem } from 'node:os';
import { formatCidr } from '../common/ipv4.js';
import type { Engine } from '../engine/engine.js';
import { API_VERSION } from './api-version.js';
import type { BuildInfo } from './version.js';

/** What the daemon knows of itself beyond the engine: its stable id and how it was started. */
export interface DaemonFacts {
  /** Stable across restarts (kept in the data root), as dockerd's ID. */
  readonly id: string;
  readonly dataRoot: string;
  readonly firewall: string;
  readonly executor: string;
  readonly clusterStore?: string;
  readonly clusterAdvertise?: string;
  /** Where the daemon serves dockerd as its plugin, if it does. */
  readonly dockerPluginDir?: string;
}

const DOCKER_ARCH: Partial<Record<NodeJS.Architecture, string>> = { x64: 'x86_64', arm64: 'aarch64' };

/**
 * GET /info in dockerd's shape (`docker info`, SDKs' info()). Counts and drivers are
 * berth's; fields for what berth does not do (images, swarm, runtimes) hold Docker's
 * empty values. berth-specific facts go where Docker has a field for them: the firewall
 * backend and executor in DriverStatus, the plugin sockets in Plugins.Network.
 */
export function infoView(engine: Engine, build: BuildInfo, facts: DaemonFacts) {
  const containers = engine.containers.all();
  const running = containers.filter((c) => c.state.status === 'running').length;
  const drivers = engine.networks.drivers.list();
  return {
    ID: facts.id,
    Containers: containers.length,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: containers.length - running,
    Images: 0,
    Driver: 'berth',
    DriverStatus: [
      ['Firewall', facts.firewall],
      ['Executor', facts.executor],
      ['Networks', String(engine.networks.all().length)],
      ['Unavailable drivers', drivers.filter((d) => !d.availability.available).map((d) => d.driver.name).join(', ') || 'none'],
      ['Drift repairs', driftRepairs(engine)],
    ],
    Plugins: {
      Volume: [],
      Network: [
        ...drivers.filter((d) => d.availability.available).map((d) => d.driver.name),
        ...(facts.dockerPluginDir ? ['served to dockerd: berth, berth-macvlan, berth-ipvlan, berth-overlay'] : []),
      ],
      Authorization: null,
      Log: ['json-file'],
    },
    MemoryLimit: false,
    SwapLimit: false,
    KernelMemory: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: false,
    OomKillDisable: false,
    IPv4Forwarding: true,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: 'json-file',
    CgroupDriver: 'none',
    CgroupVersion: '2',
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: 'berth (host commands in network namespaces)',
    OSVersion: '',
    OSType: 'linux',
    Architecture: DOCKER_ARCH[process.arch] ?? process.arch,
    IndexServerAddress: '',
    RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: facts.dataRoot,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: build.version,
    ClusterStore: facts.clusterStore ?? '',
    ClusterAdvertise: facts.clusterAdvertise ?? '',
    // Each container's first process (native/berth-init.c), as Docker names runc here.
    Runtimes: { berth: { path: 'berth-init' } },
    DefaultRuntime: 'berth',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: true,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: [],
    DefaultAddressPools: engine.addressPools().map((p) => ({ Base: formatCidr(p.base), Size: p.size })),
    Warnings: [],
    // berth's own: the API version it speaks, for scripts that want it without /version.
    BerthApiVersion: API_VERSION,
  };
}

/** "N", and the last repair's time and findings when there was one. */
function driftRepairs(engine: Engine): string {
  const { count, last } = engine.repairs();
  return last ? `${count} (last ${last.at}: ${last.found})` : String(count);
}
