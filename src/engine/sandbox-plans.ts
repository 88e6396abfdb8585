import type { NameRecord } from '../kernel/explain.js';
import { linkNamesIn } from '../kernel/netlink/links.js';
import { hostLinkExists, netnsExists } from '../kernel/read.js';
import type { Plan } from '../kernel/ops.js';
import type { EngineContext } from './context.js';
import { newId } from '../common/ids.js';
import type { TakenNames } from '../drivers/driver.js';
import type { Ipam } from '../ipam/ipam.js';
import { allocateEndpoints, attachmentsFor, releaseEndpoint } from './endpoints.js';
import type { NetworkTable } from './networks.js';
import { guardChange } from './guards.js';
import type { ContainerRecord, EndpointRecord, NetworkAttachment } from './model.js';
import { sandboxDownPlan, sandboxName, sandboxUpPlan } from './sandbox.js';

/**
 * The plans that bring a container's endpoints up and tear its sandbox down. The engine
 * applies them (start, connect, exit, rm) and `berth explain` prints them: one function
 * each, so what is explained is what is done.
 */

/** A plan with the names the embedded resolver answers once it is applied: what `berth explain` prints. */
export interface ExplainedPlan {
  readonly plan: Plan;
  readonly names: readonly NameRecord[];
}

/**
 * The plan `run` would apply for a new container with these attachments (none: a sandbox
 * with lo only), and its endpoints, computed without changing anything: the addresses are
 * taken and given back.
 */
export async function planNewContainer(
  networks: NetworkTable,
  ipam: Ipam,
  container: { readonly name: string; readonly id?: string; readonly attachments: readonly NetworkAttachment[] },
  takenHostNames: TakenNames,
): Promise<{ plan: Plan; endpoints: EndpointRecord[] }> {
  const endpoints = await allocateEndpoints(networks, ipam, container.attachments, takenHostNames);
  for (const ep of endpoints) await releaseEndpoint(ipam, ep);
  const netns = sandboxName(container.id ?? newId());
  return { plan: endpointsUpPlan(networks, { name: container.name, netns }, endpoints, { createNetns: true }), endpoints };
}

/** `endpoints` up in the container's sandbox (made first when `createNetns`), then their anti-spoofing entries. */
export function endpointsUpPlan(networks: NetworkTable, container: Pick<ContainerRecord, 'name' | 'netns'>, endpoints: readonly EndpointRecord[], opts: { readonly createNetns: boolean }): Plan {
  const guard = guardChange(`container ${container.name}`, { added: endpoints });
  return [...sandboxUpPlan(container.netns, attachmentsFor(networks, endpoints), opts), ...(guard ? [guard] : [])];
}

/**
 * The container's sandbox torn down, as far as it still exists: its anti-spoofing entries
 * out, each driver's leave, the namespace deleted. Returns the endpoints whose addresses
 * go back to IPAM once the plan is applied.
 */
export function sandboxTeardownPlan(ctx: EngineContext, container: ContainerRecord): { plan: Plan; released: EndpointRecord[] } {
  const known = container.endpoints.filter((ep) => ctx.networks.byIdExact(ep.networkId) !== undefined);
  const attachments = attachmentsFor(ctx.networks, known);
  // When a driver's leave touches links inside the sandbox (macvlan, ipvlan), ask which are
  // there: one someone deleted by hand is not touched again. A bridge's leave asks nothing.
  const touchesInside = attachments.some((a) => a.driver.leave(a.network, container.netns, a.endpoint, { sandboxGoing: true }).some((op) => 'netns' in op && op.netns === container.netns));
  const inside = touchesInside && netnsExists(container.netns) ? linkNamesIn(container.netns) : undefined;
  const live = { links: { has: hostLinkExists }, netns: { has: netnsExists }, ...(inside ? { sandboxLinks: inside } : {}) };
  const guard = guardChange(`container ${container.name} gone`, { removed: known });
  return { plan: [...(guard ? [guard] : []), ...sandboxDownPlan(container.netns, attachments, live)], released: known };
}

/** The names the embedded resolver answers for the container's `endpoints` (networks that serve names only). */
export function namesOf(ctx: EngineContext, container: Pick<ContainerRecord, 'name' | 'networks'>, endpoints: readonly EndpointRecord[]): NameRecord[] {
  return endpoints.flatMap((ep) => {
    const network = ctx.networks.byIdExact(ep.networkId);
    if (!network || !ctx.networks.servesNames(network)) return [];
    const aliases = container.networks.find((a) => a.networkId === ep.networkId)?.aliases ?? [];
    return [{ names: [container.name, ...aliases], address: ep.address, network: network.name }];
  });
}
