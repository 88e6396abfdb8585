import { dockerCoexistenceOp } from '../firewall/dockerd.js';
import { guardPresence, replaceGuards } from '../firewall/guard.js';
import type { KernelOp, Plan } from '../kernel/ops.js';
import { isSameProcessAlive } from '../kernel/process-identity.js';
import { listNetns, outputsContain, readHostState, readSysctl } from '../kernel/read.js';
import { networkStateDigest } from '../kernel/digest.js';
import { readKernelView, type KernelView } from '../kernel/view.js';
import { isLeaving } from '../kernel/reaper.js';
import { readSandboxRouting, watchSandboxRouting } from '../kernel/sandbox-routing.js';
import type { RoutingState } from '../kernel/netlink/rtnl.js';
import { joinPlan, sandboxRepairOps } from '../drivers/driver.js';
import type { EngineContext } from './context.js';
import { ownsSandbox, parseNetworkMode } from './modes.js';
import { driverNetwork } from './networks.js';
import { runningGuarded } from './guards.js';
import { ipForwardingOn, recordedEndpointsOf } from './reconcile.js';

/** One part of a repair: what drifted (a network, the firewall, the host) and the plan that undoes it. */
export interface RepairStep {
  readonly what: string;
  readonly plan: Plan;
  /** The network repaired, for a network's step. */
  readonly networkId?: string;
}

/**
 * Drift repair while the daemon runs (part 9): the same diff as reconcile at start —
 * each driver's `repair` of its networks against one read of the kernel, the records
 * being the desired state — plus the host-wide state every network relies on: namespace
 * pins of running containers, ip_forward, and berth's firewall rules (re-written whole
 * when a presence check fails: `nft flush ruleset`, `iptables -F`). Only what berth owns
 * is looked at; another tool's tables and links are never part of a plan.
 *
 * Inside running sandboxes, the addresses, up state and default route each endpoint's
 * join put there are checked too (a link missing there is its driver's repair).
 *
 * A check that found nothing remembers a digest of the host's links, addresses and the
 * records it saw (kernel/digest.ts, in-process): the next check reads the full kernel view
 * only when that digest changed or a sandbox's routing changed (a netlink watch in each
 * running sandbox, made at the first check that sees it), and the firewall rules only
 * after a ruleset event (watchRules). With the host's links and addresses watched too
 * (watchHost), a check after no event and no change of the records dumps nothing: a quiet
 * host costs the namespace names and a sysctl per period.
 * A watched sandbox's routing is read again only after its watch reported a change: a
 * check after a container starts reads that one sandbox, not every running one.
 */
export class DriftCheck {
  /** The digest of the last check that found nothing to repair. */
  private clean: string | undefined;
  /** A routing watch inside each running sandbox, by namespace name (while watching). */
  private readonly watches = new Map<string, { close(): void }>();
  /** Whether nftables ruleset changes are reported (watchRules); they are counted, and the count when the rules were last found whole kept. */
  private rulesWatched = false;
  private rulesGeneration = 0;
  private rulesSeenWhole = -1;
  /**
   * Whether the host's link and address changes are reported (watchHost); they are counted.
   * A check that found nothing keeps the count and the records' digest it saw: while neither
   * moved (and no sandbox is new or reported a change), the host's links and addresses are
   * as they were then, and the check does not dump them again (two dumps of 2,000 links at
   * 1,000 containers, most of an idle check's 115-270 ms in the operation queue).
   */
  private hostWatched = false;
  private hostGeneration = 0;
  private cleanSeen: { readonly hostGeneration: number; readonly records: string } | undefined;
  /** Called when a sandbox's links, addresses or routes changed; undefined: sandboxes are not watched. */
  private onSandboxChange: (() => void) | undefined;
  /**
   * What a watched sandbox's routing was when last read, kept until its watch reports a
   * change: a check reads again only the sandboxes that are new or changed, not all of
   * them (1,000 sandboxes took seconds per check, in the operation queue, at every start).
   */
  private readonly routingSeen = new Map<string, RoutingState>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly dockerCoexistence: boolean,
  ) {}

  /** From now on, every check watches the running sandboxes it sees, and a change in one calls `onChange`. */
  watchSandboxes(onChange: () => void): void {
    this.onSandboxChange = onChange;
  }

  /**
   * From now on the caller reports every nftables ruleset change (rulesChanged): with the
   * nftables backend, a check then reads the rules only after one (berth's own changes
   * included), not every period — each read is an `nft` process. iptables rules are read
   * every period (iptables-legacy changes make no nftables event).
   */
  watchRules(): void {
    this.rulesWatched = true;
  }

  /** From now on the caller reports every change of the host's links and addresses (hostChanged), and an overflow of its watch as one. */
  watchHost(): void {
    this.hostWatched = true;
  }

  /** The host's links or addresses changed (the daemon's rtnetlink watch). */
  hostChanged(): void {
    this.hostGeneration++;
  }

  /** The nftables ruleset changed (the daemon's nfnetlink watch). */
  rulesChanged(): void {
    this.rulesGeneration++;
  }

  private rulesMayHaveChanged(): boolean {
    return !(this.rulesWatched && this.rulesSeenWhole === this.rulesGeneration && this.ctx.deps.firewall.name === 'nftables');
  }

  /** Stops watching sandboxes. */
  close(): void {
    this.onSandboxChange = undefined;
    for (const watch of this.watches.values()) watch.close();
    this.watches.clear();
    this.routingSeen.clear();
  }

  /** Watches exactly the sandboxes named; true when one is new (its state is in no digest yet). */
  private syncSandboxWatches(netnsNames: ReadonlySet<string>): boolean {
    const onChange = this.onSandboxChange;
    if (!onChange) return false;
    for (const [netns, watch] of this.watches) {
      if (!netnsNames.has(netns)) {
        watch.close();
        this.watches.delete(netns);
        this.routingSeen.delete(netns);
      }
    }
    let added = false;
    for (const netns of netnsNames) {
      if (this.watches.has(netns)) continue;
      const watch = watchSandboxRouting(netns, () => {
        this.clean = undefined;
        this.routingSeen.delete(netns);
        onChange();
      });
      if (!watch) continue; // gone: the pins' repair looks at it
      this.watches.set(netns, watch);
      added = true;
    }
    return added;
  }

  /** What drifted, as steps; `full`: read everything whatever the digest says (system reconcile). */
  async steps(opts: { readonly full: boolean }): Promise<RepairStep[]> {
    const { ctx } = this;
    // The records say which containers run: every running one's exit is watched (its process
    // is the daemon's child, or an adopted one the engine polls) and recorded when it comes.
    // /proc is read only for a missing pin (one read per container per check was 15-36 ms of
    // an idle check at 1,000 containers).
    const running = ctx.containers.all().filter((c) => c.state.status === 'running' && ownsSandbox(parseNetworkMode(c.networkMode)));
    const steps: RepairStep[] = [];
    const namespaces = new Set(await listNetns());
    const pins: KernelOp[] = [];
    for (const c of running) {
      if (!namespaces.has(c.netns) && (await isSameProcessAlive(c.state.pid, c.state.startTime))) pins.push({ kind: 'netns-attach', name: c.netns, pid: c.state.pid });
    }
    if (pins.length > 0) steps.push({ what: `namespace pins of ${pins.length} running container(s)`, plan: pins });
    if ((await readSysctl('net.ipv4.ip_forward')) !== '1') steps.push({ what: 'net.ipv4.ip_forward', plan: [ipForwardingOn()] });

    if (opts.full || this.rulesMayHaveChanged()) {
      const before = steps.length;
      // A change during the reads below counts as unseen: the reads may predate it.
      const generation = this.rulesGeneration;
      const model = ctx.ports.firewallModel();
      if (!(await outputsContain(ctx.deps.firewall.presence(model)))) {
        const plan: KernelOp[] = [ctx.deps.firewall.replaceAll('restore berth networks and published ports', model)];
        if (this.dockerCoexistence) plan.push(dockerCoexistenceOp(ctx.deps.firewall.name));
        steps.push({ what: `the ${ctx.deps.firewall.name} rules`, plan });
      }
      const guarded = runningGuarded(ctx.containers);
      if (!(await outputsContain([guardPresence(guarded)]))) steps.push({ what: 'the anti-spoofing rules', plan: [replaceGuards('restore anti-spoofing for running containers', guarded)] });
      // Seen whole: until the next ruleset event, there is nothing to look at.
      if (steps.length === before) this.rulesSeenWhole = generation;
    }

    const newSandbox = this.syncSandboxWatches(new Set(running.map((c) => c.netns)));
    const records = recordsDigest(ctx);
    // A change during the reads below counts as unseen: the reads may predate it.
    const hostGeneration = this.hostGeneration;
    const seen = this.cleanSeen;
    if (!opts.full && !newSandbox && this.clean !== undefined && this.hostWatched && seen?.hostGeneration === hostGeneration && seen.records === records) return steps;
    // Watched sandboxes report their own changes: their link names are read only when unwatched.
    // The host's links and addresses, read once for the digest and, when it changed, the view.
    const host = readHostState();
    const digest = `${networkStateDigest(host, this.onSandboxChange ? [] : running.map((c) => c.state.pid))}|${records}`;
    if (opts.full || newSandbox || digest !== this.clean) {
      const routing = this.sandboxRouting(running.map((c) => c.netns), opts.full);
      const live: KernelView = { ...(await readKernelView([], host)), sandboxLinks: sandboxLinksOf(routing) };
      const runningIds = new Set(running.map((c) => c.id));
      for (const network of ctx.networks.addressed()) {
        const endpoints = recordedEndpointsOf(network.id, ctx.containers.all(), runningIds, ctx.external.all());
        const driver = ctx.networks.driverOf(network);
        const plan = [...driver.repair(driverNetwork(network), endpoints, live)];
        // Inside the sandboxes whose endpoint link is there: what its join put there.
        for (const e of endpoints) {
          const inside = e.running ? routing.get(e.netns) : undefined;
          if (inside?.links.has(e.endpoint.ifname)) plan.push(...sandboxRepairOps(e.netns, joinPlan(e.netns, driver.join(driverNetwork(network), e.netns, e.endpoint), e.gatewayEndpoint), inside));
        }
        if (plan.length > 0) steps.push({ what: `network ${network.name}`, plan, networkId: network.id });
      }
    }
    this.clean = steps.length === 0 ? digest : undefined;
    this.cleanSeen = steps.length === 0 ? { hostGeneration, records } : undefined;
    return steps;
  }

  /** Each sandbox's routing: remembered for watched ones that reported no change since, read for the rest (all when `full`). */
  private sandboxRouting(netnsNames: readonly string[], full: boolean): Map<string, RoutingState | undefined> {
    return new Map(
      netnsNames.map((netns) => {
        const seen = full ? undefined : this.routingSeen.get(netns);
        if (seen) return [netns, seen] as const;
        const state = readSandboxRouting(netns);
        // Remembered only while a watch will say when it changes (the read is synchronous: no change comes in during it).
        if (state && this.watches.has(netns)) this.routingSeen.set(netns, state);
        return [netns, state] as const;
      }),
    );
  }
}

/** The link names inside each sandbox, from its routing state (read or remembered); a sandbox that could not be read is unknown. */
function sandboxLinksOf(routing: ReadonlyMap<string, RoutingState | undefined>): Map<string, ReadonlySet<string>> {
  const out = new Map<string, ReadonlySet<string>>();
  for (const [netns, state] of routing) if (state) out.set(netns, new Set([...state.links.keys()].filter((name) => !isLeaving(name))));
  return out;
}

/** What of the records decides the desired kernel state: containers' states and endpoints, networks, dockerd's endpoints. */
function recordsDigest(ctx: EngineContext): string {
  const containers = ctx.containers.all().map((c) => [c.id, c.state.status, c.state.pid, c.endpoints.map((e) => e.id)]);
  return JSON.stringify([containers, ctx.networks.all().map((n) => n.id), ctx.external.all().map((r) => r.endpoint.id)]);
}
