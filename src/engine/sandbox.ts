import { shortId } from '../common/ids.js';
import { joinPlan, type DriverEndpoint, type DriverNetwork, type NetworkDriver } from '../drivers/driver.js';
import { withoutAbsentLinks, type KernelOp, type LinkPresence, type Plan } from '../kernel/ops.js';
import { channelOf } from '../kernel/render.js';

/**
 * A sandbox is one network stack: a network namespace pinned as /run/netns/<name> (so
 * `ip -n <name>` and `ip netns exec` work on it), with lo up and one interface per
 * endpoint. These functions only plan; the engine applies.
 */

export const SANDBOX_PREFIX = 'berth-';

export function sandboxName(containerId: string): string {
  return `${SANDBOX_PREFIX}${shortId(containerId)}`;
}

export interface Attachment {
  readonly network: DriverNetwork;
  readonly driver: NetworkDriver;
  readonly endpoint: DriverEndpoint;
  /** It carries the sandbox's default route. */
  readonly gatewayEndpoint: boolean;
}

/**
 * Everything needed to bring a sandbox up: each driver's join, and the default route the
 * gateway endpoint's join info names. Host-side ops go first and namespace-side ops after,
 * each in their original order: namespace ops depend on host ops (the veth peer or the
 * macvlan link is born there), never the reverse, and this order lets the executor apply
 * an attach with two processes (one `ip -batch` per side).
 */
export function sandboxUpPlan(netns: string, attachments: readonly Attachment[], opts: { createNetns: boolean }): Plan {
  const ops: KernelOp[] = opts.createNetns
    ? [{ kind: 'netns-add', name: netns }, { kind: 'link-up', netns, dev: 'lo' }]
    : [];
  for (const a of attachments) ops.push(...joinPlan(netns, a.driver.join(a.network, netns, a.endpoint), a.gatewayEndpoint));
  return hostSideFirst(ops);
}

/**
 * Tearing a sandbox down. Deleting the namespace takes every interface in it, and with
 * each its veth peer on the host, so when the namespace exists that is the plan, with
 * only what drivers say outlives it: `ip netns del` returns in ~3 ms and the kernel
 * removes the pairs asynchronously (gone ~100 ms later), whereas deleting a veth
 * synchronously costs 13-35 ms of RCU grace periods on these VMs (docs/benchmarks.md).
 * Without the namespace, endpoints leave one by one. Only what still exists is planned,
 * so a repeated rm or one after a crash succeeds.
 */
export function sandboxDownPlan(
  netns: string,
  attachments: readonly Attachment[],
  live: { readonly links: LinkPresence; readonly netns: LinkPresence; readonly sandboxLinks?: ReadonlySet<string> },
): Plan {
  const sandboxGoing = live.netns.has(netns);
  const leaves = attachments.flatMap((a) => a.driver.leave(a.network, netns, a.endpoint, { sandboxGoing }));
  if (sandboxGoing) {
    // A link someone already deleted inside the sandbox is not touched again.
    const present = (op: KernelOp) => {
      const dev = 'dev' in op && 'netns' in op && op.netns === netns ? op.dev : undefined;
      return dev === undefined || live.sandboxLinks === undefined || live.sandboxLinks.has(dev);
    };
    const takes = attachments.flatMap((a) => (a.endpoint.hostIfname !== undefined && live.links.has(a.endpoint.hostIfname) ? [a.endpoint.hostIfname] : []));
    return [...leaves.filter(present), { kind: 'netns-del', name: netns, ...(takes.length > 0 ? { takes } : {}) }];
  }
  // No namespace: nothing inside one can be deleted; host links only if they are there.
  return withoutAbsentLinks(leaves.filter((op) => !('netns' in op) || op.netns === undefined), live.links);
}

function hostSideFirst(ops: readonly KernelOp[]): KernelOp[] {
  // A host end's sysctl (IPv6 off) stays with the host's ops: it is set before the
  // sandbox's side brings the link a carrier.
  const isHost = (op: KernelOp): boolean => {
    const c = channelOf(op);
    return (c.tool === 'ip' || c.tool === 'sysctl') && c.netns === undefined;
  };
  // The sandbox's sysctls (interfaces born without IPv6) come first on its side: its `ip`
  // ops then stay one batch.
  const isSandboxSysctl = (op: KernelOp) => op.kind === 'sysctl' && op.netns !== undefined;
  return [...ops.filter(isHost), ...ops.filter(isSandboxSysctl), ...ops.filter((op) => !isHost(op) && !isSandboxSysctl(op))];
}
