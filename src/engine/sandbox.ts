import { shortId } from '../common/ids.js';
import type { EndpointSpec, NetworkDriver, NetworkSpec } from '../drivers/driver.js';
import { withoutAbsentLinks, type KernelOp, type Plan } from '../kernel/ops.js';
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
  readonly network: NetworkSpec;
  readonly driver: NetworkDriver;
  readonly endpoint: EndpointSpec;
}

/**
 * Everything needed to bring a sandbox up. Host-side ops go first and namespace-side ops
 * after, each in their original order: namespace ops depend on host ops (the veth peer is
 * born there), never the reverse, and this order lets the executor apply an attach with
 * two processes (one `ip -batch` per side).
 */
export function sandboxUpPlan(netns: string, attachments: readonly Attachment[], opts: { createNetns: boolean }): Plan {
  const ops: KernelOp[] = opts.createNetns
    ? [{ kind: 'netns-add', name: netns }, { kind: 'link-up', netns, dev: 'lo' }]
    : [];
  for (const a of attachments) ops.push(...a.driver.join(a.network, netns, a.endpoint));
  return hostSideFirst(ops);
}

/**
 * Tearing a sandbox down. Deleting the namespace takes every interface in it, and with
 * each its veth peer on the host, so when the namespace exists that is the whole plan:
 * `ip netns del` returns in ~3 ms and the kernel removes the pairs asynchronously (gone
 * ~100 ms later), whereas deleting a veth synchronously costs 13-35 ms of RCU grace
 * periods on these VMs (docs/benchmarks.md). Without the namespace, endpoints leave one
 * by one. Only what still exists is planned, so a repeated rm or one after a crash succeeds.
 */
export function sandboxDownPlan(
  netns: string,
  attachments: readonly Attachment[],
  live: { readonly links: ReadonlySet<string>; readonly netns: ReadonlySet<string> },
): Plan {
  if (live.netns.has(netns)) return [{ kind: 'netns-del', name: netns }];
  return withoutAbsentLinks(attachments.flatMap((a) => a.driver.leave(a.network, netns, a.endpoint)), live.links);
}

function hostSideFirst(ops: readonly KernelOp[]): KernelOp[] {
  const isHost = (op: KernelOp): boolean => {
    const c = channelOf(op);
    return c.tool === 'ip' && c.netns === undefined;
  };
  return [...ops.filter(isHost), ...ops.filter((op) => !isHost(op))];
}
