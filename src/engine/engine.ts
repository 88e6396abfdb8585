import { EventEmitter } from 'node:events';
import { rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:os';
import { BerthError, ConflictError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { AddressPoolSpec } from '../ipam/subnets.js';
import { newId } from '../common/ids.js';
import type { Plan } from '../kernel/ops.js';
import {
  envObject,
  killProcessGroups,
  launchContainer,
  processesWithArguments,
  recordedExitCode,
  resolveExecutable,
  SANDBOX_SETUP_FAILED,
  signalContainer,
  type LaunchedProcess,
} from '../kernel/process.js';
import { isSameProcessAlive, processStartTime } from '../kernel/process-identity.js';
import { listNetns, netnsExists } from '../kernel/read.js';
import { containersSharing, resolveContainerConfig, type CreateContainerRequest } from './container-config.js';
import { ClusterSync, type PeerRecord } from './cluster-sync.js';
import { ContainerRecords } from './container-records.js';
import { ContainerTable } from './containers.js';
import { ExecSessions } from './execs.js';
import { EventLog } from './events.js';
import { DriftCheck, type RepairStep } from './drift.js';
import { validateContainerName } from './names.js';
import { ExternalEndpointTable } from './external/endpoints.js';
import { ExternalRuntime } from './external/runtime.js';
import { containerDir, exitCodePath, runDir, runFilesDir, type ContainerLaunch, type EngineConfig, type EngineContext, type EngineDeps } from './context.js';
import { OperationQueue } from './lock.js';
import { OwnKernelChanges } from './own-changes.js';
import { hasAddresses, initialState, parseNetworkRecord, type AddressedNetwork, type ContainerRecord, type NetworkRecord } from './model.js';
import { ownsSandbox, parseNetworkMode } from './modes.js';
import { releaseEndpoint } from './endpoints.js';
import type { CreateNetworkRequest } from './network-create.js';
import { NetworkService } from './network-service.js';
import { driverNetwork, NetworkTable } from './networks.js';
import { runningGuarded } from './guards.js';
import { stopReaper } from '../kernel/reaper.js';
import { stopProbing } from './trace/probe.js';
import { Tracer, type TraceAnswer } from './trace/tracer.js';
import { parseTraceRequest } from './trace/spec.js';
import { replaceGuards } from '../firewall/guard.js';
import { firewallPortsOf } from './ports.js';
import { ipForwardingOn, reconcile } from './reconcile.js';
import { PortPublisher } from './publisher.js';
import { TableNameSource } from './name-source.js';
import type { NameService } from '../dns/resolver.js';
import { sandboxName } from './sandbox.js';
import { setUpSandbox } from './sandbox-setup.js';
import { inTransaction } from './transaction.js';
import { endpointsUpPlan, namesOf, planNewContainer, sandboxTeardownPlan, type ExplainedPlan } from './sandbox-plans.js';

export type { EngineConfig, EngineDeps, FaultHook, FaultPoint } from './context.js';
export type { CreateContainerRequest } from './container-config.js';

/** Docker's `wait?condition=`. */
export const WAIT_CONDITIONS = ['not-running', 'next-exit', 'removed'] as const;
export type WaitCondition = (typeof WAIT_CONDITIONS)[number];

/** How often containers the daemon adopted after a restart (not its children) are checked for exit. */
const ADOPTED_POLL_MS = 250;
/** Kernel events during a plan of berth's, or this soon after, may be its own: the check waits until then. */
const OWN_CHANGE_QUIET_MS = 200;
/** A burst of kernel events (a deleted bridge takes its ports with it) is one check. */
const EVENT_DEBOUNCE_MS = 20;
/** Docker's exit code for a process killed by SIGKILL, used when berth-init could not record one. */
const KILLED_EXIT_CODE = 137;

/**
 * The controller: containers, their sandboxes and endpoints, on top of networks. Every
 * mutating operation runs in the operation queue and as a transaction (kernel plan,
 * then persistence; all undone if a step fails).
 */
export class Engine {
  readonly networks: NetworkTable;
  readonly containers = new ContainerTable();
  /** Endpoints of dockerd's containers, berth being its network plugin. */
  readonly externalEndpoints = new ExternalEndpointTable();
  /** What dockerd asks through berth's plugin sockets. */
  readonly external: ExternalRuntime;
  /** Processes run in running containers (exec). */
  readonly execs = new ExecSessions(this.containers, (id) => this.settingUp.get(id), () => this.containerLaunch('run a process in a container').tools.nsenter);
  /** What happened, for `docker events`. */
  readonly events = new EventLog();
  private readonly drift: DriftCheck;
  /** A drift check brought forward by a kernel event, not yet run. */
  private driftSoon: NodeJS.Timeout | undefined;
  /** The last repair that failed, as reported: the same failure again is not reported again. */
  private lastFailedRepair: string | undefined;
  /** Repairs made since the daemon started, and the last one (`docker info` shows them). */
  private repairCount = 0;
  private lastRepair: { readonly at: string; readonly found: string } | undefined;
  private readonly records: ContainerRecords;
  private readonly queue = new OperationQueue();
  /** When berth's own plans last changed the kernel (drift repair tells its events from others'). */
  private readonly ownChanges = new OwnKernelChanges();
  private readonly deps: EngineDeps;
  private readonly ports: PortPublisher;
  private readonly context: EngineContext;
  private readonly names: NameService;
  private readonly networkService: NetworkService;
  /** This host's side of the cluster, when it joined one. */
  private readonly cluster: ClusterSync | undefined;
  private readonly exits = new EventEmitter();
  /** The stdin writers of running `-i` containers (closed at their exit, or when the attached client ends its input). */
  private readonly stdinWriters = new Map<string, FileHandle>();
  private readonly adopted = new Set<string>();
  /** Starts whose container's process is still setting its sandbox up, by container id: each settles with the start's answer. */
  private readonly settingUp = new Map<string, Promise<ContainerRecord>>();
  /** The end of each running container this daemon launched (the launcher's report of its berth-init's end), by id; adopted ones are not here. */
  private readonly launchedExits = new Map<string, Promise<number>>();
  private poller: NodeJS.Timeout | undefined;

  private constructor(
    private readonly config: EngineConfig,
    untracked: EngineDeps,
  ) {
    const deps = (this.deps = { ...untracked, executor: this.ownChanges.track(untracked.executor) });
    this.exits.setMaxListeners(0);
    this.networks = new NetworkTable(deps.drivers);
    this.records = new ContainerRecords(deps.store);
    this.ports = new PortPublisher(this.networks, this.containers, this.externalEndpoints, deps.executor, deps.firewall);
    this.names = deps.nameService(new TableNameSource(this.networks, this.containers, config, () => this.cluster));
    this.context = { config, deps, networks: this.networks, containers: this.containers, records: this.records, external: this.externalEndpoints, ports: this.ports, names: this.names };
    if (deps.cluster) {
      const cluster = new ClusterSync(this.context, deps.cluster, (op) => this.queue.run(op), (m) => console.error(m));
      this.records.observe((record, removed) => cluster.publish(record, removed));
      this.cluster = cluster;
    }
    // Every change that can change a name's answer reaches the resolver at once: it caches answers in another thread.
    for (const changes of [this.networks.changes, this.containers.changes, this.cluster?.changes]) changes?.watch(() => this.names.namesChanged());
    this.networkService = new NetworkService(this.context, this.cluster);
    this.external = new ExternalRuntime(this.context, this.networkService, this.cluster, (op) => this.queue.run(op));
    this.drift = new DriftCheck(this.context, config.dockerCoexistence === true);
  }

  /** Loads the store, makes the kernel match it (and it the kernel), and starts watching containers. */
  static async open(config: EngineConfig, deps: EngineDeps): Promise<Engine> {
    const engine = new Engine(config, deps);
    const { runningAdopted } = await reconcile({
      externalEndpoints: await engine.external.load(),
      store: deps.store,
      runStore: deps.runStore,
      records: engine.records,
      globalNetworks: deps.cluster ? (await deps.cluster.store.list('networks')).map((s) => parseNetworkRecord(s.value)) : [],
      executor: deps.executor,
      drivers: deps.drivers,
      ipam: deps.ipam,
      firewall: deps.firewall,
      retiredFirewalls: deps.retiredFirewalls,
      networks: engine.networks,
      containers: engine.containers,
      defaultBridge: config.defaultBridge,
      dockerCoexistence: config.dockerCoexistence === true,
      markExited: (c) => engine.recordExit(c, undefined),
      discardUnfinishedStarts: (cs) => engine.discardUnfinishedStarts(cs),
    });
    for (const id of runningAdopted) engine.adopted.add(id);
    await engine.cluster?.start();
    engine.resumeResolvers(runningAdopted);
    engine.poller = setInterval(() => void engine.pollAdopted().catch((err: unknown) => engine.logFailure('checking adopted containers', err)), ADOPTED_POLL_MS);
    engine.poller.unref();
    return engine;
  }

  /** Work no request waits for (exit bookkeeping) reports its failures here, never as an unhandled rejection. */
  private logFailure(what: string, err: unknown): void {
    console.error(`berth: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  async close(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    if (this.driftSoon) clearTimeout(this.driftSoon);
    this.drift.close();
    void this.cluster?.stop();
    await this.names.close();
    await stopProbing();
    // Links being deleted in the background are deleted before the daemon goes.
    await stopReaper();
  }

  /** The embedded resolver listens again in adopted containers that use it (it lives in the daemon). */
  private resumeResolvers(ids: readonly string[]): void {
    for (const c of ids.map((id) => this.containers.byIdExact(id))) {
      if (!c?.embeddedDns) continue;
      try {
        this.names.attach(c.id, c.netns);
      } catch (err) {
        // The container keeps running; only its names are down. Say so, do not fail the start.
        console.error(`berth: the embedded resolver of container ${c.name} could not listen: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Where network subnets come from (the daemon's --default-address-pool, or Docker's). */
  addressPools(): readonly AddressPoolSpec[] {
    return this.config.defaultBridge.pools;
  }

  /** A driver's scope: global for one whose networks span hosts (overlay). */
  driverScope(driver: string): 'local' | 'global' {
    return this.deps.drivers.get(driver).capabilities.scope;
  }

  defaultNetwork(): AddressedNetwork {
    return this.networks.addressedById(this.networks.get('bridge').id);
  }

  containerDir(id: string): string {
    return containerDir(this.config, id);
  }

  /** The files a container sees as /etc/hosts and /etc/resolv.conf (a container: mode one shares its peer's), and its output. */
  containerFiles(c: ContainerRecord): { hostsPath: string; resolvConfPath: string; stdoutPath: string } {
    const mode = parseNetworkMode(c.networkMode);
    const filesDir = runFilesDir(this.config, mode.kind === 'container' ? mode.container : c.id);
    return { hostsPath: join(filesDir, 'hosts'), resolvConfPath: join(filesDir, 'resolv.conf'), stdoutPath: this.logPaths(c.id).stdoutPath };
  }

  /** The FIFO a `-i` container reads its stdin from (an attach with stdin writes to it). */
  stdinPath(id: string): string {
    return join(this.containerDir(id), 'stdin.fifo');
  }

  /**
   * The writer of a running `-i` container's stdin, once it runs (an attach made before the
   * start waits for it); undefined for a container without one, or whose input ended.
   */
  async stdinWriter(id: string, stillWanted: () => boolean): Promise<FileHandle | undefined> {
    for (;;) {
      const writer = this.stdinWriters.get(id);
      const c = this.containers.byIdExact(id);
      if (writer || !c?.openStdin || c.state.status === 'exited' || !stillWanted()) return writer;
      await sleep(20);
    }
  }

  /** Ends a container's input (Docker's StdinOnce: its attached client closed stdin). */
  async closeStdin(id: string): Promise<void> {
    const writer = this.stdinWriters.get(id);
    this.stdinWriters.delete(id);
    await writer?.close();
  }

  logPaths(id: string): { stdoutPath: string; stderrPath: string } {
    const dir = this.containerDir(id);
    return { stdoutPath: join(dir, 'stdout.log'), stderrPath: join(dir, 'stderr.log') };
  }

  // ---- drift ---------------------------------------------------------------------------

  /**
   * Finds what drifted from the records (docs/architecture.md, "Drift repair") and, unless
   * `dryRun`, repairs it, step by step: one step failing leaves the others done. Each
   * repair is logged and is a `daemon repair` event.
   */
  repairDrift(opts: { readonly dryRun: boolean; readonly full?: boolean }): Promise<{ steps: RepairStep[]; failures: string[] }> {
    return this.queue.run(async () => {
      const steps = await this.drift.steps({ full: opts.dryRun || opts.full === true });
      if (opts.dryRun || steps.length === 0) return { steps, failures: [] };
      const failures: string[] = [];
      for (const step of steps) {
        try {
          await this.deps.executor.apply(step.plan);
        } catch (err) {
          failures.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      // A global network's links made again have an empty forwarding table: its peers go back in.
      const global = steps.flatMap((s) => (s.networkId !== undefined && this.networks.byIdExact(s.networkId)?.scope === 'global' ? [s.networkId] : []));
      if (global.length > 0) await this.cluster?.reprogram(global);
      const found = steps.map((s) => s.what).join('; ');
      const report = `${found}${failures.length > 0 ? ` (failed: ${failures.join('; ')})` : ''}`;
      // Drift that cannot be repaired (a user's parent link gone) is reported once, not every period.
      if (failures.length === 0 || report !== this.lastFailedRepair) {
        console.error(`berth: drift repaired: ${report}`);
        this.repairCount++;
        this.lastRepair = { at: new Date().toISOString(), found: report };
        this.events.record('daemon', 'repair', 'berth', { found, ops: String(steps.reduce((n, s) => n + s.plan.length, 0)), failed: String(failures.length) });
      }
      this.lastFailedRepair = failures.length > 0 ? report : undefined;
      return { steps, failures };
    });
  }

  /**
   * Continuous repair (the daemon's `--repair-interval`): from now on each check also
   * watches the running sandboxes' links, addresses and routes, and a change inside one
   * brings the next check forward as a host change does; the daemon reports nftables
   * ruleset changes (rulesChanged), so the rules are read only after one.
   */
  repairContinuously(): void {
    this.drift.watchSandboxes(() => this.kernelChanged());
    this.drift.watchRules();
    this.drift.watchHost();
  }

  /** The host's links or addresses changed (the daemon's rtnetlink watch): the next check reads them, and comes soon. */
  hostChanged(): void {
    this.drift.hostChanged();
    this.kernelChanged();
  }

  /** The nftables ruleset changed (the daemon's nfnetlink watch): the next check reads the rules, and comes soon. */
  rulesChanged(): void {
    this.drift.rulesChanged();
    this.kernelChanged();
  }

  /** Drift repairs since the daemon started: how many, and the last one's time and findings. */
  repairs(): { readonly count: number; readonly last?: { readonly at: string; readonly found: string } } {
    return { count: this.repairCount, ...(this.lastRepair ? { last: this.lastRepair } : {}) };
  }

  /** Whether berth's own plans ran a moment ago: a periodic drift check then waits (it would hold the queue in a burst of operations). */
  busyWithOwnPlans(): boolean {
    return this.ownChanges.untilQuiet(OWN_CHANGE_QUIET_MS) > 0;
  }

  /**
   * A link, address or nftables rule changed in the host namespace, or routing inside a
   * sandbox (the daemon's netlink watches): a drift check comes soon, once berth's own
   * plans have been quiet for a moment (the change may be theirs; a check while they run
   * would see a half-made state), then finds whether anything drifted.
   */
  kernelChanged(): void {
    if (this.driftSoon) return;
    this.driftSoon = setTimeout(() => {
      this.driftSoon = undefined;
      if (this.ownChanges.untilQuiet(OWN_CHANGE_QUIET_MS) > 0) return this.kernelChanged();
      this.repairDrift({ dryRun: false }).catch((err: unknown) => this.logFailure('drift repair', err));
    }, Math.max(EVENT_DEBOUNCE_MS, this.ownChanges.untilQuiet(OWN_CHANGE_QUIET_MS)));
    this.driftSoon.unref();
  }

  // ---- networks ------------------------------------------------------------------------

  createNetwork(request: CreateNetworkRequest): Promise<AddressedNetwork> {
    return this.queue.run(async () => {
      const created = await this.networkService.create(request);
      this.events.record('network', 'create', created.id, { name: created.name, type: created.driver });
      return created;
    });
  }

  /** What `network create` would do, without doing it (`network create --dry-run`). */
  planNetwork(request: CreateNetworkRequest): Promise<{ network: Plan; firstEndpoint: Plan; warnings: string[] }> {
    return this.queue.run(() => this.networkService.plan(request));
  }

  removeNetwork(ref: string): Promise<void> {
    return this.queue.run(async () => {
      const removed = await this.networkService.remove(ref);
      this.events.record('network', 'destroy', removed.id, { name: removed.name, type: removed.driver });
    });
  }

  /** Removes the unused user-defined networks that `selects` picks (the API's prune filters). */
  pruneNetworks(selects: (n: NetworkRecord) => boolean = () => true): Promise<string[]> {
    return this.queue.run(() => this.networkService.prune(selects));
  }

  /** Whether any container is configured for or attached to the network. */
  networkInUse(networkId: string): boolean {
    return this.networkService.usersOf(networkId).length > 0 || this.externalEndpoints.onNetwork(networkId).length > 0;
  }

  connectNetwork(network: string, container: string, endpoint: CreateContainerRequest['endpoint']): Promise<void> {
    return this.queue.run(async () => {
      const connected = await this.networkService.connect(network, container, endpoint);
      this.recordNetworkEvent('connect', network, connected);
    });
  }

  disconnectNetwork(network: string, container: string): Promise<void> {
    return this.queue.run(async () => {
      const disconnected = await this.networkService.disconnect(network, container);
      this.recordNetworkEvent('disconnect', network, disconnected);
    });
  }

  private recordNetworkEvent(action: 'connect' | 'disconnect', networkRef: string, container: ContainerRecord): void {
    const network = this.networks.get(networkRef);
    this.events.record('network', action, network.id, { name: network.name, type: network.driver, container: container.id });
  }

  // ---- create -----------------------------------------------------------------------

  /** Creates the container record; the warnings are Docker's (ports dropped in host mode...). */
  createContainer(request: CreateContainerRequest): Promise<{ record: ContainerRecord; warnings: readonly string[] }> {
    return this.queue.run(async () => {
      const id = newId();
      const config = await this.validateCreate(request, id);
      const mode = parseNetworkMode(config.networkMode);
      const record: ContainerRecord = {
        id,
        name: config.name,
        created: new Date().toISOString(),
        hostname: config.hostname,
        command: [...request.command],
        env: [...request.env],
        labels: { ...request.labels },
        autoRemove: request.autoRemove,
        ...(request.openStdin ? { openStdin: true } : {}),
        ...(request.user !== undefined ? { user: request.user } : {}),
        ...(request.readOnly ? { readOnly: true } : {}),
        networkMode: config.networkMode,
        // container: mode learns its peer's namespace at start; host mode has none.
        netns: ownsSandbox(mode) ? sandboxName(id) : '',
        networks: config.networks,
        dns: config.dns,
        extraHosts: config.extraHosts,
        links: config.links,
        embeddedDns: false,
        endpoints: [],
        portMappings: config.portMappings,
        ports: [],
        state: initialState(),
      };
      await this.records.save(record);
      this.containers.set(record);
      this.events.record('container', 'create', record.id, { name: record.name, image: 'host' });
      return { record, warnings: config.warnings };
    });
  }

  private async validateCreate(request: CreateContainerRequest, id: string) {
    if (request.command.length === 0) {
      throw new InvalidArgumentError('no command given', 'put the command after "--", e.g. berth run -d -- sleep 1000');
    }
    const config = await resolveContainerConfig(request, { networks: this.networks, containers: this.containers, ipam: this.deps.ipam }, id);
    // Where the container will look it up: its own PATH, when it sets one (as Docker).
    resolveExecutable(request.command[0]!, envObject(request.env).PATH);
    return config;
  }

  // ---- start ------------------------------------------------------------------------

  /**
   * Starts a container: its network and its first process under the operation queue, then,
   * with the queue free for other operations, waits for that process to set its sandbox up
   * (berth-init's namespaces and mounts, a few ms). Until then the
   * container is running (its pid is known; stop, kill and rm can meet it), and an exec
   * waits. A set-up that fails undoes the start: the container is created again, with why.
   */
  async startContainer(ref: string): Promise<ContainerRecord> {
    const start = await this.queue.run(async () => {
      const found = this.containers.get(ref);
      if (found.state.status === 'running') return { record: found, settled: this.settingUp.get(found.id) };
      const container = found.state.status === 'exited' ? await this.resetExited(found) : found;
      try {
        const { started, launched } = await this.startCreated(container);
        this.rememberExit(started.id, launched.exited);
        const settled = this.settleStart(container, started, launched);
        this.settingUp.set(started.id, settled);
        return { record: started, settled };
      } catch (err) {
        await this.recordFailedStart(container, err);
        throw err;
      }
    });
    return start.settled ?? start.record;
  }

  /** Keeps a launched container's end for `rm -f` to wait on, until it comes (a later start of the same container has its own). */
  private rememberExit(id: string, exited: Promise<number>): void {
    this.launchedExits.set(id, exited);
    void exited.then(() => {
      if (this.launchedExits.get(id) === exited) this.launchedExits.delete(id);
    });
  }

  /**
   * Resolves once a running container's process is gone: at its berth-init's end, when this
   * daemon launched it (the event, at once), else (adopted after a restart) when /proc says
   * so; polling alone waited 10 ms a removal, inside the operation queue.
   */
  private processGone(container: ContainerRecord): Promise<unknown> {
    const polled = waitForDeath(container.state.pid, container.state.startTime);
    const exited = this.launchedExits.get(container.id);
    return exited ? Promise.race([exited, polled]) : polled;
  }

  /** Docker keeps why a start failed in State.Error; the container stays created. */
  private async recordFailedStart(container: ContainerRecord, err: unknown): Promise<void> {
    const failed: ContainerRecord = { ...container, state: { ...container.state, error: err instanceof Error ? err.message : String(err) } };
    await this.records.save(failed);
    this.containers.set(failed);
  }

  /**
   * The second half of a start, outside the queue: its answer once the container's process
   * has set the sandbox up. Only then is the start an event and the process's exit recorded
   * as the container's (a failed set-up is undone instead).
   */
  private async settleStart(before: ContainerRecord, started: ContainerRecord, launched: LaunchedProcess): Promise<ContainerRecord> {
    try {
      await launched.setUp;
    } catch (err) {
      await launched.stdin?.close();
      await launched.exited;
      await this.queue.run(() => this.undoStart(before, started, err));
      throw err;
    } finally {
      this.settingUp.delete(started.id);
    }
    if (this.isSameStart(started)) {
      // An attach gets the stdin writer only now that the container has its FIFO open for
      // reading: input written and ended before that would go with a pipe nobody read.
      if (launched.stdin) this.stdinWriters.set(started.id, launched.stdin);
      this.events.record('container', 'start', started.id, { name: started.name, image: 'host' });
    } else {
      await launched.stdin?.close();
    }
    launched.exited.then((code) => this.queue.run(() => this.recordExit(started.id, code))).catch((err: unknown) => this.logFailure(`recording the exit of container ${started.name}`, err));
    return this.containers.byIdExact(started.id) ?? started;
  }

  /** Whether the container is still running the process this start launched (a stop or rm may have met it since). */
  private isSameStart(started: ContainerRecord): boolean {
    const current = this.containers.byIdExact(started.id)?.state;
    return current?.status === 'running' && current.pid === started.state.pid && current.startTime === started.state.startTime;
  }

  /** A start whose set-up failed, its process gone: its ports, names and sandbox go, and the container is as it was before, with why. */
  private async undoStart(before: ContainerRecord, started: ContainerRecord, err: unknown): Promise<void> {
    if (!this.isSameStart(started)) return;
    await this.closeStdin(started.id);
    await this.ports.unpublish(started);
    this.names.detach(started.id);
    if (ownsSandbox(parseNetworkMode(started.networkMode))) await this.teardownSandbox(started);
    await this.recordFailedStart(before, err);
    // A stop that met the set-up waits for an exit: this was it.
    this.exits.emit(started.id, SANDBOX_SETUP_FAILED);
  }

  /**
   * An exited container starts again from nothing, as Docker's do: its old sandbox (and the
   * addresses its endpoints held) goes first, its configuration stays.
   */
  private async resetExited(container: ContainerRecord): Promise<ContainerRecord> {
    if (ownsSandbox(parseNetworkMode(container.networkMode))) await this.teardownSandbox(container);
    const reset: ContainerRecord = { ...container, endpoints: [], ports: [], embeddedDns: false, state: { ...initialState(), exitCode: container.state.exitCode, finishedAt: container.state.finishedAt } };
    await this.records.save(reset);
    this.containers.set(reset);
    return reset;
  }

  /** Stops (SIGTERM, then SIGKILL after the timeout) and starts again. */
  async restartContainer(ref: string, timeoutMs?: number): Promise<ContainerRecord> {
    const container = this.containers.get(ref);
    await this.stopContainer(container.id, timeoutMs);
    const started = await this.startContainer(container.id);
    this.events.record('container', 'restart', started.id, { name: started.name, image: 'host' });
    return started;
  }

  /** A new name; the embedded DNS answers to it from now on (its names come from the live table). */
  renameContainer(ref: string, newName: string): Promise<ContainerRecord> {
    return this.queue.run(async () => {
      const container = this.containers.get(ref);
      const name = validateContainerName(newName);
      if (name === container.name) throw new ConflictError(`container ${container.name} already has that name`);
      const holder = this.containers.all().find((c) => c.name === name);
      if (holder) throw new ConflictError(`the name "${name}" is already in use by container ${holder.id.slice(0, 12)}`, 'choose another name, or remove that container');
      const renamed: ContainerRecord = { ...container, name };
      await this.records.save(renamed);
      this.containers.set(renamed);
      this.events.record('container', 'rename', renamed.id, { name, oldName: `/${container.name}`, image: 'host' });
      return renamed;
    });
  }

  /**
   * A created container may hold a process and a namespace from a start the daemon did not
   * finish (killed between launching it and recording it): both go, so a start begins from
   * nothing. Idempotent; reconcile calls it for every created container.
   */
  async discardUnfinishedStarts(containers: readonly ContainerRecord[]): Promise<void> {
    const processes = await processesWithArguments(containers.map((c) => exitCodePath(this.config, c.id)));
    const namespaces = new Set(await listNetns());
    for (const container of containers) {
      await killProcessGroups(processes.get(exitCodePath(this.config, container.id)) ?? []);
      const leftover = ownsSandbox(parseNetworkMode(container.networkMode)) && namespaces.has(container.netns);
      if (leftover) await this.deps.executor.apply([{ kind: 'netns-del', name: container.netns }]);
    }
  }

  /** How containers' processes start; only the daemon has it: an engine opened to plan offline starts nothing. */
  private containerLaunch(what: string): ContainerLaunch {
    const launch = this.config.containerLaunch;
    if (launch === undefined) throw new BerthError('internal', `cannot ${what}: this engine has no means to start containers' processes (only the daemon has)`);
    return launch;
  }

  /** The first half of a start, in the queue: the sandbox, the ports and the container's process launched, all as one transaction. */
  private async startCreated(container: ContainerRecord): Promise<{ started: ContainerRecord; launched: LaunchedProcess }> {
    const launch = this.containerLaunch(`start ${container.name}`);
    if (ownsSandbox(parseNetworkMode(container.networkMode)) && netnsExists(container.netns)) await this.discardUnfinishedStarts([container]);
    return inTransaction(this.deps.executor, async (tx) => {
      const sandbox = await setUpSandbox(this.context, container, tx, () => this.networkService.gatewayBridge());
      const gatewayEndpoint = sandbox.endpoints.find((e) => e.gatewayEndpoint);
      const ports = gatewayEndpoint ? await this.ports.allocate(container.portMappings) : [];
      if (gatewayEndpoint) await tx.apply(this.ports.publishPlan(container.name, gatewayEndpoint, ports));

      // Its logs and exit code outlive the run: they are in the data root, in the container's
      // directory, made at its first start (kernel/process.ts says by whom).
      const launched = await launchContainer({
        netns: sandbox.netns,
        launcher: launch.launcher,
        hostname: container.hostname,
        hostsFile: join(sandbox.filesDir, 'hosts'),
        resolvConfFile: join(sandbox.filesDir, 'resolv.conf'),
        command: container.command,
        env: container.env,
        ...this.logPaths(container.id),
        exitCodePath: exitCodePath(this.config, container.id),
        mountTablePath: join(runDir(this.config, container.id), 'mounts'),
        hidden: this.config.hiddenFromContainers,
        ...(container.openStdin ? { stdinFifoPath: this.stdinPath(container.id) } : {}),
        ...(container.user !== undefined ? { user: container.user } : {}),
        ...(container.readOnly ? { readOnly: true } : {}),
      });
      tx.onRollback(async () => {
        signalContainer(launched.pid, 'SIGKILL');
        await launched.stdin?.close();
      });
      this.deps.faultHook?.('container-launched');

      const started: ContainerRecord = {
        ...container,
        netns: sandbox.netns,
        endpoints: sandbox.endpoints,
        embeddedDns: sandbox.embeddedDns,
        ports,
        state: { ...initialState(), status: 'running', pid: launched.pid, startTime: launched.startTime, startedAt: new Date().toISOString() },
      };
      await this.records.save(started);
      this.containers.set(started);
      return { started, launched };
    });
  }

  // ---- trace: where a packet goes, and why ------------------------------------------------

  /** Other hosts' endpoints on global networks (empty outside a cluster). */
  remoteEndpoints(): PeerRecord[] {
    return this.cluster ? this.networks.all().flatMap((n) => this.cluster!.remoteEndpointsOf(n.id)) : [];
  }

  /** This host's --cluster-advertise address, when it is part of a cluster. */
  clusterAddress(): string | undefined {
    return this.deps.cluster?.hostAddress;
  }

  /** `berth trace SRC DST`: the model's answer, or with `probe` a real packet's. */
  trace(src: string, dst: string, opts: { readonly probe: boolean }): Promise<TraceAnswer> {
    return new Tracer(this.networks, this.containers, () => this.remoteEndpoints(), join(this.config.dataRoot, 'probe')).trace(parseTraceRequest(src, dst), opts);
  }

  // ---- explain: the plans of operations, not applied ---------------------------------------

  /** What `run` would do, without doing it: the plan for a container that does not exist yet. */
  planRun(request: CreateContainerRequest): Promise<ExplainedPlan> {
    return this.queue.run(async () => {
      const config = await this.validateCreate(request, newId());
      if (!ownsSandbox(parseNetworkMode(config.networkMode))) return { plan: [], names: [] };
      const name = request.name ?? 'the new container';
      const { plan, endpoints } = await planNewContainer(this.networks, this.deps.ipam, { name, attachments: config.networks }, this.containers.takenHostIfnames());
      const names = namesOf(this.context, { name, networks: config.networks }, endpoints);
      const gatewayEndpoint = endpoints.find((e) => e.gatewayEndpoint);
      if (!gatewayEndpoint) return { plan, names };
      const ports = await this.ports.allocate(config.portMappings);
      return { plan: [...plan, ...this.ports.publishPlan(name, gatewayEndpoint, ports)], names };
    });
  }

  planConnect(network: string, container: string, endpoint: CreateContainerRequest['endpoint']): Promise<ExplainedPlan> {
    return this.queue.run(() => this.networkService.planConnect(network, container, endpoint));
  }

  planDisconnect(network: string, container: string): Promise<Plan> {
    return this.queue.run(() => Promise.resolve(this.networkService.planDisconnect(network, container).plan));
  }

  planRemoveNetwork(ref: string): Promise<Plan> {
    return this.queue.run(() => Promise.resolve(this.networkService.planRemove(ref)));
  }

  /** `rm [-f]`, explained: the ports withdrawn and the sandbox torn down (a running container's, killed first with -f). */
  planRemoveContainer(ref: string, opts: { force: boolean }): Promise<Plan> {
    return this.queue.run(() => {
      const container = this.checkedRemovable(ref, opts);
      if (container.state.status !== 'running' || !ownsSandbox(parseNetworkMode(container.networkMode))) return Promise.resolve([]);
      return Promise.resolve([...this.ports.unpublishPlan(container.id, container.name, firewallPortsOf(container)), ...sandboxTeardownPlan(this.context, container).plan]);
    });
  }

  /** A running container's network as it is now, as the steps that would build it from nothing (its networks existing). */
  rebuildContainer(ref: string): ExplainedPlan {
    const container = this.containers.get(ref);
    if (container.state.status !== 'running' || !ownsSandbox(parseNetworkMode(container.networkMode))) return { plan: [], names: [] };
    const gateway = container.endpoints.find((e) => e.gatewayEndpoint);
    const others = this.ports.firewallModel(container.id);
    const ports = gateway ? this.ports.publishPlan(container.name, gateway, container.ports, others) : [];
    return { plan: [...endpointsUpPlan(this.networks, container, container.endpoints, { createNetns: true }), ...ports], names: namesOf(this.context, container, container.endpoints) };
  }

  /**
   * A network as it is now, as the steps that would build it from nothing. The firewall's
   * tables are shared: they come whole (every network's rules, every guarded endpoint).
   */
  rebuildNetwork(ref: string): Plan {
    const network = this.networks.get(ref);
    if (!hasAddresses(network)) return [];
    const driver = this.networks.driverOf(network);
    // An overlay's other hosts' endpoints, as the cluster programs them: FDB and neighbour entries.
    const peers = this.remoteEndpoints().filter((p) => p.network === network.id).map((p) => ({ address: p.address, mac: p.mac, vtep: p.vtep }));
    const programmed = driver.peersChanged && peers.length > 0 ? driver.peersChanged(driverNetwork(network), [], peers) : [];
    if (!driver.firewall) return [...driver.createNetwork(driverNetwork(network)), ...programmed];
    return [
      ...driver.createNetwork(driverNetwork(network)),
      ...(network.internal ? [] : [ipForwardingOn()]),
      this.deps.firewall.replaceAll(`network ${network.name} and every other network's rules`, this.ports.firewallModel()),
      replaceGuards('anti-spoofing: every running container', runningGuarded(this.containers)),
      ...programmed,
    ];
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
    this.events.record('container', 'stop', container.id, { name: container.name, image: 'host' });
    return this.containers.get(container.id);
  }

  killContainer(ref: string, signal: string): Promise<void> {
    const container = this.containers.get(ref);
    const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`).toUpperCase();
    if (!(name in constants.signals)) {
      throw new InvalidArgumentError(`invalid signal "${quotePrefix(signal)}"`, 'use a name such as SIGTERM, TERM or KILL');
    }
    if (container.state.status !== 'running') {
      return Promise.reject(new ConflictError(`container ${container.name} is not running`));
    }
    signalContainer(container.state.pid, name as NodeJS.Signals);
    this.events.record('container', 'kill', container.id, { name: container.name, image: 'host', signal: name });
    return Promise.resolve();
  }

  /**
   * Resolves with the exit code, as Docker's wait conditions say: `not-running` at once if
   * it is not running, else at its exit; `next-exit` at its next exit even if it is stopped
   * now; `removed` once it is removed.
   */
  waitContainer(ref: string, condition: WaitCondition = 'not-running'): Promise<number> {
    const container = this.containers.get(ref);
    if (condition === 'not-running' && container.state.status !== 'running') return Promise.resolve(container.state.exitCode);
    const event = condition === 'removed' ? `removed:${container.id}` : container.id;
    return new Promise((resolve) => this.exits.once(event, resolve));
  }

  /** Marks a container exited (if it still was running). Runs inside the queue. */
  private async recordExit(id: string, childCode: number | undefined): Promise<void> {
    const container = this.containers.byIdExact(id);
    if (!container || container.state.status !== 'running') return;
    this.adopted.delete(id);
    await this.closeStdin(id);
    const recorded = await recordedExitCode(exitCodePath(this.config, id));
    const exitCode = recorded ?? childCode ?? KILLED_EXIT_CODE;
    // Like Docker, a stopped container holds no host ports, answers to no name and has no
    // sandbox: its namespace, links and addresses go; its configuration stays for a start.
    await this.ports.unpublish(container);
    this.names.detach(id);
    if (ownsSandbox(parseNetworkMode(container.networkMode))) await this.teardownSandbox(container);
    const exited: ContainerRecord = { ...container, ports: [], endpoints: [], embeddedDns: false, state: { ...container.state, status: 'exited', exitCode, finishedAt: new Date().toISOString() } };
    await this.records.save(exited);
    this.containers.set(exited);
    this.events.record('container', 'die', id, { name: exited.name, image: 'host', exitCode: String(exitCode) });
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
      const container = this.checkedRemovable(ref, opts);
      if (container.state.status === 'running') {
        signalContainer(container.state.pid, 'SIGKILL');
        await this.processGone(container);
        await this.recordExit(container.id, KILLED_EXIT_CODE);
      }
      const latest = this.containers.byIdExact(container.id);
      if (latest) await this.removeStopped(latest);
    });
  }

  /** The container, if `rm` may remove it: no running container shares its namespace; running only with `force`. */
  private checkedRemovable(ref: string, opts: { force: boolean }): ContainerRecord {
    const container = this.containers.get(ref);
    const sharing = containersSharing(this.containers, container).filter((c) => c.state.status === 'running');
    if (sharing.length > 0) {
      throw new ConflictError(
        `cannot remove container "${container.name}": running containers share its network namespace (${sharing.map((c) => c.name).join(', ')})`,
        'stop or remove them first',
      );
    }
    if (container.state.status === 'running' && !opts.force) {
      throw new ConflictError(`cannot remove container "${container.name}": it is running`, 'stop it first, or use rm -f');
    }
    return container;
  }

  private async removeStopped(container: ContainerRecord): Promise<void> {
    this.names.detach(container.id);
    if (ownsSandbox(parseNetworkMode(container.networkMode))) await this.teardownSandbox(container);
    await this.records.remove(container);
    this.containers.remove(container.id);
    await rm(this.containerDir(container.id), { recursive: true, force: true });
    await rm(runDir(this.config, container.id), { recursive: true, force: true });
    this.events.record('container', 'destroy', container.id, { name: container.name, image: 'host' });
    // Waiters for an exit that can no longer come (next-exit) are answered too.
    this.exits.emit(container.id, container.state.exitCode);
    this.exits.emit(`removed:${container.id}`, container.state.exitCode);
  }

  /** Removes a container's endpoints and namespace and frees its addresses. Idempotent. */
  async teardownSandbox(container: ContainerRecord): Promise<void> {
    const { plan, released } = sandboxTeardownPlan(this.context, container);
    await this.deps.executor.apply(plan);
    for (const ep of released) await releaseEndpoint(this.deps.ipam, ep);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls /proc until the process is gone (or `timeoutMs` passed): soon at first (a killed process is gone in a few ms), then every 10 ms. */
async function waitForDeath(pid: number, startTime: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 1; Date.now() < deadline; pause = Math.min(pause * 2, 10)) {
    if ((await processStartTime(pid)) !== startTime) return;
    await sleep(pause);
  }
}

