import { macForAddress } from '../drivers/driver.js';
import { changeGuards, type GuardedEndpoint } from '../firewall/guard.js';
import type { NftApply } from '../kernel/ops.js';
import type { ContainerTable } from './containers.js';
import type { EndpointRecord } from './model.js';

/**
 * Which endpoints the anti-spoofing guard (firewall/guard.ts) covers: those with a veth on
 * a Linux bridge (bridge and overlay networks; a macvlan or ipvlan endpoint has no port
 * on a bridge of berth's), of running containers.
 */
export function guardedOf(endpoints: readonly EndpointRecord[]): GuardedEndpoint[] {
  return endpoints.flatMap((e) => (e.hostIfname === undefined ? [] : [{ hostIfname: e.hostIfname, mac: e.mac ?? macForAddress(e.address), address: e.address }]));
}

/** Every running container's guarded endpoints: the guard table's desired content. */
export function runningGuarded(containers: ContainerTable): GuardedEndpoint[] {
  return guardedOf(containers.all().filter((c) => c.state.status === 'running').flatMap((c) => c.endpoints));
}

/** The change that starts guarding `added` and stops guarding `removed`; undefined when neither has a veth. */
export function guardChange(what: string, change: { readonly added?: readonly EndpointRecord[]; readonly removed?: readonly EndpointRecord[] }): NftApply | undefined {
  const added = guardedOf(change.added ?? []);
  const removed = guardedOf(change.removed ?? []);
  return added.length + removed.length === 0 ? undefined : changeGuards(`anti-spoofing: ${what}`, { added, removed });
}
