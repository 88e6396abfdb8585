import { dockerCoexistenceOp } from '../firewall/dockerd.js';
import type { KernelOp, Plan } from '../kernel/ops.js';
import { isSameProcessAlive } from '../kernel/process.js';
import { listNetns, outputsContain, readSysctl } from '../kernel/read.js';
import { readKernelView } from '../kernel/view.js';
import type { EngineContext } from './context.js';
import { ownsSandbox, parseNetworkMode } from './modes.js';
import { driverNetwork } from './networks.js';
import { recordedEndpointsOf } from './reconcile.js';

/** One part of a repair: what drifted (a network, the firewall, the host) and the plan that undoes it. */
export interface RepairStep {
  readonly what: string;
  readonly plan: Plan;
}

/**
 * Drift repair while the daemon runs (part 9): the same diff as reconcile at start —
 * each driver's `repair` of its networks against one read of the kernel, the records
 * being the desired state — plus the host-wide state every network relies on: namespace
 * pins of running containers, ip_forward, and berth's firewall rules (re-written whole
 * when a presence check fails: `nft flush ruleset`, `iptables -F`). Only what berth owns
 * is looked at; another tool's tables and links are never part of a plan.
 * The steps are computed without changing anything (`system reconcile --dry-run`).
 */
export async function driftRepairSteps(ctx: EngineContext, dockerCoexistence: boolean): Promise<RepairStep[]> {
  const running = [];
  for (const c of ctx.containers.all()) {
    if (c.state.status === 'running' && ownsSandbox(parseNetworkMode(c.networkMode)) && (await isSameProcessAlive(c.state.pid, c.state.startTime))) running.push(c);
  }
  const steps: RepairStep[] = [];
  const namespaces = new Set(await listNetns());
  const pins = running.filter((c) => !namespaces.has(c.netns)).map((c): KernelOp => ({ kind: 'netns-attach', name: c.netns, pid: c.state.pid }));
  if (pins.length > 0) steps.push({ what: `namespace pins of ${pins.length} running container(s)`, plan: pins });
  if ((await readSysctl('net.ipv4.ip_forward')) !== '1') steps.push({ what: 'net.ipv4.ip_forward', plan: [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }] });

  const live = await readKernelView(running.map((c) => ({ netns: c.netns, pid: c.state.pid })));
  const runningIds = new Set(running.map((c) => c.id));
  for (const network of ctx.networks.addressed()) {
    const endpoints = recordedEndpointsOf(network.id, ctx.containers.all(), runningIds, ctx.external.all());
    const plan = ctx.networks.driverOf(network).repair(driverNetwork(network), endpoints, live);
    if (plan.length > 0) steps.push({ what: `network ${network.name}`, plan });
  }

  const model = ctx.ports.firewallModel();
  if (!(await outputsContain(ctx.deps.firewall.presence(model)))) {
    const plan: KernelOp[] = [ctx.deps.firewall.replaceAll('restore berth networks and published ports', model)];
    if (dockerCoexistence) plan.push(dockerCoexistenceOp(ctx.deps.firewall.name));
    steps.push({ what: `the ${ctx.deps.firewall.name} rules`, plan });
  }
  return steps;
}
