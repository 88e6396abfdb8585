import { EventEmitter } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { ConflictError, InvalidArgumentError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { NetworkDriver } from '../drivers/driver.js';
import type { Executor } from '../kernel/exec.js';
import type { Plan } from '../kernel/ops.js';
import {
  isSameProcessAlive,
  launchContainer,
  processStartTime,
  recordedExitCode,
  resolveExecutable,
  signalContainer,
} from '../kernel/process.js';
import { hostLinkNames, listNetns } from '../kernel/read.js';
import type { Store } from '../store/store.js';
import { ContainerTable } from './containers.js';
import { OperationQueue } from './lock.js';
import { initialState, type ContainerRecord, type EndpointRecord, type NetworkRecord } from './model.js';
import { generateName, validateContainerName } from './names.js';
import { allocateEndpoint, attachmentsFor, planNewContainer, releaseEndpoint } from './endpoints.js';
import { NetworkTable, type DefaultBridgeOptions } from './networks.js';
import { reconcile } from './reconcile.js';
import type { PortMapping } from './portspec.js';
import { PortPublisher } from './publisher.js';
import type { FirewallBackend } from '../firewall/backend.js';
import { hostsFileContent, resolvConfContent, sandboxDownPlan, sandboxName, sandboxUpPlan, type Attachment } from './sandbox.js';
import { inTransaction } from './transaction.js';

export interface EngineConfig {
  readonly dataRoot: string;
  readonly defaultBridge: DefaultBridgeOptions;
  readonly hostResolvConfPath: string;
  /** How long `stop` waits after SIGTERM before SIGKILL (Docker: 10 s). */
  readonly stopTimeoutMs: number;
}

export interface EngineDeps {
  readonly store: Store;
  readonly executor: Executor;
  readonly drivers: ReadonlyMap<string, NetworkDriver>;
  readonly firewall: FirewallBackend;
}

export interface CreateContainerRequest {
  readonly name?: string;
  readonly hostname?: string;
  readonly command: readonly string[];
  readonly env: readonly string[];
  readonly networkMode: string;
  readonly autoRemove: boolean;
  readonly portMappings: readonly PortMapping[];
}

/** How often containers the daemon adopted after a restart (not its children) are checked for exit. */
const ADOPTED_POLL_MS = 250;
/** Docker's exit code for a process killed by SIGKILL, used when the wrapper could not record one. */
const KILLED_EXIT_CODE = 137;

/**
 * The controller: containers, their sandboxes and endpoints, on top of networks. Every
 * mutating operation runs in the operation queue and as a transaction (kernel plan,
 * then persistence; all undone if a step fails).
 */
export class Engine {
  readonly networks = new NetworkTable();
  readonly containers = new ContainerTable();
  private readonly queue = new OperationQueue();
  private readonly ports: PortPublisher;
  private readonly exits = new EventEmitter();
  private readonly adopted = new Set<string>();
  private poller: NodeJS.Timeout | undefined;

  private constructor(
    private readonly config: EngineConfig,
    private readonly deps: EngineDeps,
  ) {
    this.exits.setMaxListeners(0);
    this.ports = new PortPublisher(this.networks, this.containers, deps.executor, deps.firewall);
  }

  /** Loads the store, makes the kernel match it (and it the kernel), and starts watching containers. */
  static async open(config: EngineConfig, deps: EngineDeps): Promise<Engine> {
    const engine = new Engine(config, deps);
    const { runningAdopted } = await reconcile({
      store: deps.store,
      executor: deps.executor,
      drivers: deps.drivers,
      firewall: deps.firewall,
      networks: engine.networks,
      containers: engine.containers,
      defaultBridge: config.defaultBridge,
      markExited: (c) => engine.recordExit(c, undefined),
    });
    for (const id of runningAdopted) engine.adopted.add(id);
    engine.poller = setInterval(() => void engine.pollAdopted(), ADOPTED_POLL_MS);
    engine.poller.unref();
    return engine;
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
  }

  defaultNetwork(): NetworkRecord {
    return this.networks.get('bridge');
  }

  containerDir(id: string): string {
    return join(this.config.dataRoot, 'containers', id);
  }

  logPaths(id: string): { stdoutPath: string; stderrPath: string } {
    const dir = this.containerDir(id);
    return { stdoutPath: join(dir, 'stdout.log'), stderrPath: join(dir, 'stderr.log') };
  }

  // ---- create -----------------------------------------------------------------------

  createContainer(request: CreateContainerRequest): Promise<ContainerRecord> {
    return this.queue.run(async () => {
      const { name, network } = await this.validateCreate(request);
      const id = newId();
      const record: ContainerRecord = {
        id,
        name,
        created: new Date().toISOString(),
        hostname: request.hostname ?? name,
        command: [...request.command],
        env: [...request.env],
        autoRemove: request.autoRemove,
        networkMode: network.name,
        netns: sandboxName(id),
        endpoints: [],
        portMappings: [...request.portMappings],
        ports: [],
        state: initialState(),
      };
      await this.deps.store.put('containers', id, record);
      this.containers.set(record);
      return record;
    });
  }

  private async validateCreate(request: CreateContainerRequest): Promise<{ name: string; network: NetworkRecord }> {
    if (request.command.length === 0) {
      throw new InvalidArgumentError('no command given', 'put the command after "--", e.g. berth run -d -- sleep 1000');
    }
    await resolveExecutable(request.command[0]!);
    const network = this.resolveNetworkMode(request.networkMode);
    let name = request.name === undefined ? undefined : validateContainerName(request.name);
    if (name !== undefined && this.containers.nameTaken(name)) {
      const holder = this.containers.nameTaken(name)!;
      throw new ConflictError(
        `the container name "/${name}" is already in use by container "${holder.id}"`,
        'remove that container (berth rm) or choose another name',
      );
    }
    while (name === undefined || this.containers.nameTaken(name)) name = generateName();
    for (const entry of request.env) {
      if (!/^[^=]+=/.test(entry)) throw new InvalidArgumentError(`invalid environment variable "${entry}"`, 'use KEY=VALUE');
    }
    if (request.hostname !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(request.hostname)) {
      throw new InvalidArgumentError(`invalid hostname "${request.hostname}"`, 'letters, digits, "-" and "." only, at most 63 characters');
    }
    return { name, network };
  }

  private resolveNetworkMode(mode: string): NetworkRecord {
    if (mode === '' || mode === 'default' || mode === 'bridge') return this.defaultNetwork();
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      throw new InvalidArgumentError(`network mode "${mode}" is not supported yet`, 'use --network bridge');
    }
    return this.networks.get(mode);
  }

  // ---- start ------------------------------------------------------------------------

  startContainer(ref: string): Promise<ContainerRecord> {
    return this.queue.run(async () => {
      const container = this.containers.get(ref);
      if (container.state.status === 'running') return container;
      if (container.state.status === 'exited') {
        throw new ConflictError(`container ${container.name} has exited; restarting is not supported yet`, 'remove it and run a new one');
      }
      return this.startCreated(container);
    });
  }

  private async startCreated(container: ContainerRecord): Promise<ContainerRecord> {
    return inTransaction(this.deps.executor, async (tx) => {
      const network = this.networks.get(container.networkMode);
      const endpoint = this.allocate(network, 0);
      tx.onRollback(() => releaseEndpoint(this.networks, endpoint));

      const dir = this.containerDir(container.id);
      await this.writeSandboxFiles(dir, container.hostname, [endpoint.address]);
      tx.onRollback(() => rm(dir, { recursive: true, force: true }));

      const ports = await this.ports.allocate(container.portMappings);
      await tx.apply([...this.upPlan(container.netns, [endpoint], true), ...this.ports.publishPlan(container.name, endpoint, ports)]);

      const launched = await launchContainer({
        netns: container.netns,
        hostname: container.hostname,
        hostsFile: join(dir, 'hosts'),
        resolvConfFile: join(dir, 'resolv.conf'),
        command: container.command,
        env: container.env,
        ...this.logPaths(container.id),
        exitCodePath: join(dir, 'exitcode'),
      });
      tx.onRollback(() => signalContainer(launched.pid, 'SIGKILL'));

      const started: ContainerRecord = {
        ...container,
        endpoints: [endpoint],
        ports,
        state: { ...initialState(), status: 'running', pid: launched.pid, startTime: launched.startTime, startedAt: new Date().toISOString() },
      };
      await this.deps.store.put('containers', started.id, started);
      this.containers.set(started);
      void launched.exited.then((code) => this.queue.run(() => this.recordExit(started.id, code)));
      return started;
    });
  }

  private allocate(network: NetworkRecord, index: number): EndpointRecord {
    const taken = new Set(this.containers.all().flatMap((c) => c.endpoints.map((e) => e.hostIfname)));
    return allocateEndpoint(this.networks, network, index, taken);
  }

  private async writeSandboxFiles(dir: string, hostname: string, addresses: string[]): Promise<void> {
    await mkdir(dir, { recursive: true });
    let hostResolv = '';
    try {
      hostResolv = await readFile(this.config.hostResolvConfPath, 'utf8');
    } catch {
      // A host without resolv.conf gives containers an empty one, as it has itself.
    }
    await writeFile(join(dir, 'hosts'), hostsFileContent(hostname, addresses));
    await writeFile(join(dir, 'resolv.conf'), resolvConfContent(hostResolv));
  }

  private attachments(endpoints: readonly EndpointRecord[]): Attachment[] {
    return attachmentsFor(this.networks, this.deps.drivers, endpoints);
  }

  upPlan(netns: string, endpoints: readonly EndpointRecord[], createNetns: boolean): Plan {
    return sandboxUpPlan(netns, this.attachments(endpoints), { createNetns });
  }

  /** What `run` would do, without doing it: the plan for a container that does not exist yet. */
  planRun(request: CreateContainerRequest): Promise<Plan> {
    return this.queue.run(async () => {
      const { network } = await this.validateCreate(request);
      const taken = new Set(this.containers.all().flatMap((c) => c.endpoints.map((e) => e.hostIfname)));
      const { plan, endpoint } = planNewContainer(this.networks, this.deps.drivers, network, taken);
      const ports = await this.ports.allocate(request.portMappings);
      return [...plan, ...this.ports.publishPlan(request.name ?? 'the new container', endpoint, ports)];
    });
  }

  // ---- stop, exit, wait ----------------------------------------------------------------

  /** SIGTERM, then SIGKILL after the timeout, as `docker stop` does. */
  async stopContainer(ref: string, timeoutMs = this.config.stopTimeoutMs): Promise<ContainerRecord> {
    const container = this.containers.get(ref);
    if (container.state.status !== 'running') return container;
    const exited = this.waitContainer(container.id);
    signalContainer(container.state.pid, 'SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) {
      signalContainer(container.state.pid, 'SIGKILL');
      await exited;
    }
    return this.containers.get(container.id);
  }

  killContainer(ref: string, signal: string): Promise<void> {
    const container = this.containers.get(ref);
    const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`).toUpperCase();
    if (!(name in constants.signals)) {
      throw new InvalidArgumentError(`invalid signal "${signal}"`, 'use a name such as SIGTERM, TERM or KILL');
    }
    if (container.state.status !== 'running') {
      return Promise.reject(new ConflictError(`container ${container.name} is not running`));
    }
    signalContainer(container.state.pid, name as NodeJS.Signals);
    return Promise.resolve();
  }

  /** Resolves with the exit code once the container is not running. */
  waitContainer(ref: string): Promise<number> {
    const container = this.containers.get(ref);
    if (container.state.status !== 'running') return Promise.resolve(container.state.exitCode);
    return new Promise((resolve) => this.exits.once(container.id, resolve));
  }

  /** Marks a container exited (if it still was running). Runs inside the queue. */
  private async recordExit(id: string, childCode: number | undefined): Promise<void> {
    const container = this.containers.byIdExact(id);
    if (!container || container.state.status !== 'running') return;
    this.adopted.delete(id);
    const recorded = await recordedExitCode(join(this.containerDir(id), 'exitcode'));
    const exitCode = recorded ?? childCode ?? KILLED_EXIT_CODE;
    // Like Docker, a stopped container holds no host ports.
    await this.ports.unpublish(container);
    const exited: ContainerRecord = { ...container, ports: [], state: { ...container.state, status: 'exited', exitCode, finishedAt: new Date().toISOString() } };
    await this.deps.store.put('containers', id, exited);
    this.containers.set(exited);
    this.exits.emit(id, exitCode);
    if (exited.autoRemove) await this.removeStopped(exited);
  }

  private async pollAdopted(): Promise<void> {
    for (const id of [...this.adopted]) {
      const c = this.containers.byIdExact(id);
      if (!c || !(await isSameProcessAlive(c.state.pid, c.state.startTime))) {
        await this.queue.run(() => this.recordExit(id, undefined));
      }
    }
  }

  // ---- remove -------------------------------------------------------------------------

  removeContainer(ref: string, opts: { force: boolean }): Promise<void> {
    return this.queue.run(async () => {
      const container = this.containers.get(ref);
      if (container.state.status === 'running') {
        if (!opts.force) {
          throw new ConflictError(`cannot remove container "${container.name}": it is running`, 'stop it first, or use rm -f');
        }
        signalContainer(container.state.pid, 'SIGKILL');
        await waitForDeath(container.state.pid, container.state.startTime);
        await this.recordExit(container.id, KILLED_EXIT_CODE);
      }
      const latest = this.containers.byIdExact(container.id);
      if (latest) await this.removeStopped(latest);
    });
  }

  private async removeStopped(container: ContainerRecord): Promise<void> {
    await this.teardownSandbox(container);
    await this.deps.store.delete('containers', container.id);
    this.containers.remove(container.id);
    await rm(this.containerDir(container.id), { recursive: true, force: true });
  }

  /** Removes a container's endpoints and namespace and frees its addresses. Idempotent. */
  async teardownSandbox(container: ContainerRecord): Promise<void> {
    const live = { links: await hostLinkNames(), netns: new Set(await listNetns()) };
    const known = container.endpoints.filter((ep) => this.networks.all().some((n) => n.id === ep.networkId));
    await this.deps.executor.apply(sandboxDownPlan(container.netns, this.attachments(known), live));
    for (const ep of known) releaseEndpoint(this.networks, ep);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForDeath(pid: number, startTime: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await processStartTime(pid)) !== startTime) return;
    await sleep(10);
  }
}
