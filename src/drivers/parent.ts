import { ConflictError, InvalidArgumentError, MissingFeatureError, quotePrefix } from '../common/errors.js';
import { shortId } from '../common/ids.js';
import { LINK_KIND_SUPPORT, type KernelFeatures } from '../kernel/features.js';
import { withoutAbsentLinks, type KernelOp, type Plan } from '../kernel/ops.js';
import type { HostLinkPresence, KernelView } from '../kernel/view.js';
import { dataOneOf, dataString, VALID_LINK_NAME } from './data.js';
import { joinPlan, ownerAlias, type DriverCreateContext, type DriverData, type DriverEndpoint, type DriverNetwork, type NetworkDriver, type RecordedEndpoint } from './driver.js';

/**
 * The parent link of a macvlan or ipvlan network, as Docker handles `-o parent=`:
 *  - an existing host link is used as it is, and never changed or removed;
 *  - `IF.VLAN` that does not exist yet is created as an 802.1q sub-interface of IF, and
 *    removed with the network (only then: berth removes only what it created);
 *  - no parent on an `--internal` network: berth makes a parent with no wire, so the
 *    endpoints reach each other and nothing else. Docker uses a dummy link; a kernel
 *    without dummy links gets a bridge with no ports, which carries the macvlan
 *    children just the same and has no way out either (docs/drivers.md).
 */
export type CreatedParent = 'none' | 'vlan' | 'dummy' | 'bridge';
const CREATED_PARENTS: readonly CreatedParent[] = ['none', 'vlan', 'dummy', 'bridge'];

export interface ParentLink {
  readonly parent: string;
  readonly created: CreatedParent;
}

export const PARENT_OPTION = 'parent';

export function resolveParent(driver: string, raw: Readonly<Record<string, string>>, ctx: DriverCreateContext, features: KernelFeatures): ParentLink {
  const given = raw[PARENT_OPTION];
  if (given === undefined) {
    if (!ctx.internal) {
      throw new InvalidArgumentError(`the ${driver} driver needs a parent link: -o parent=IF`, `give the host interface its endpoints sit on (e.g. -o parent=eth0 or -o parent=eth0.10), or --internal for an isolated network with no parent`);
    }
    return { parent: `dm-${shortId(ctx.id)}`, created: features.linkKinds.has('dummy') ? 'dummy' : 'bridge' };
  }
  if (!VALID_LINK_NAME.test(given)) throw new InvalidArgumentError(`invalid parent "${quotePrefix(given)}"`, 'a host link name of 1-15 characters from [a-zA-Z0-9_.-]');
  const user = ctx.others.find((n) => n.data.parent === given);
  if (user) throw new ConflictError(`parent link ${given} is already used by ${user.driver} network ${user.name}`, 'a parent link carries one macvlan or ipvlan network; use another parent, or a VLAN sub-interface such as parent.10');
  if (ctx.live.links.has(given)) return { parent: given, created: 'none' };
  const vlan = /^(.+)\.(\d+)$/.exec(given);
  if (!vlan) throw new InvalidArgumentError(`parent link ${given} does not exist on this host`, 'list the host links with: ip link show');
  const [, base, idText] = vlan as unknown as [string, string, string];
  const vlanId = Number(idText);
  if (vlanId < 1 || vlanId > 4094) throw new InvalidArgumentError(`invalid VLAN id ${idText} in parent ${given}`, 'a VLAN id from 1 to 4094');
  if (!ctx.live.links.has(base)) throw new InvalidArgumentError(`parent link ${base} (of the VLAN link ${given}) does not exist on this host`, 'list the host links with: ip link show');
  if (!features.linkKinds.has('vlan')) {
    throw new MissingFeatureError(`cannot create the VLAN link ${given}: this kernel lacks ${LINK_KIND_SUPPORT.vlan}`, 'use a kernel with the 8021q module, or a parent link that exists already');
  }
  return { parent: given, created: 'vlan' };
}

export function parentData(link: ParentLink): DriverData {
  return { parent: link.parent, createdParent: link.created };
}

export function parentOf(driver: string, data: DriverData): ParentLink {
  return { parent: dataString(driver, data, 'parent'), created: dataOneOf(driver, data, 'createdParent', CREATED_PARENTS) };
}

/** Creates the parent when berth owns it (marked with the network's alias for reconcile); nothing otherwise. */
export function createParentPlan(networkId: string, link: ParentLink): KernelOp[] {
  const ops: KernelOp[] = [];
  switch (link.created) {
    case 'none':
      return [];
    case 'vlan': {
      const [, base, id] = /^(.+)\.(\d+)$/.exec(link.parent) as unknown as [string, string, string];
      ops.push({ kind: 'vlan-add', name: link.parent, parent: base, vlanId: Number(id) });
      break;
    }
    case 'dummy':
      ops.push({ kind: 'dummy-add', name: link.parent });
      break;
    case 'bridge':
      // Without a MAC of its own: it never has ports, and with one the kernel would keep its carrier off, and the macvlans' with it (ops.ts BridgeAdd).
      ops.push({ kind: 'bridge-add', name: link.parent });
      break;
  }
  ops.push({ kind: 'link-alias', dev: link.parent, alias: ownerAlias(networkId) }, { kind: 'link-up', dev: link.parent });
  return ops;
}

/** Removes the parent if berth created it and it is still there; a user's parent is never touched. */
export function deleteParentPlan(link: ParentLink, live: HostLinkPresence): Plan {
  if (link.created === 'none') return [];
  return withoutAbsentLinks([{ kind: 'link-del', dev: link.parent }], live.links);
}

/** Re-creates a parent berth owns when it is gone, or brings it up; a user's parent that is gone cannot be. */
export function repairParentPlan(networkId: string, link: ParentLink, live: KernelView): KernelOp[] {
  const existing = live.links.get(link.parent);
  if (link.created === 'none') return [];
  if (!existing) return createParentPlan(networkId, link);
  return existing.up ? [] : [{ kind: 'link-up', dev: link.parent }];
}

/**
 * What a driver whose endpoints live only inside sandboxes on a parent (macvlan, ipvlan)
 * repairs around its own objects: a parent berth owns (re-created or brought up), and
 * every running container's endpoint missing from its namespace, joined again with the
 * default route it carries. `own` adds the driver's other host objects between the two.
 * A user's parent that is gone cannot be repaired: nothing is planned (applying would fail).
 */
export function repairOnParent(
  driver: Pick<NetworkDriver, 'join'>,
  network: DriverNetwork,
  link: ParentLink,
  endpoints: readonly RecordedEndpoint[],
  live: KernelView,
  own: () => readonly KernelOp[] = () => [],
): KernelOp[] {
  const ops: KernelOp[] = [...repairParentPlan(network.id, link, live)];
  if (!live.links.has(link.parent) && ops.length === 0) return [];
  ops.push(...own());
  for (const e of endpoints.filter((e) => e.running)) {
    const inside = live.sandboxLinks.get(e.netns);
    if (inside && !inside.has(e.endpoint.ifname)) ops.push(...joinPlan(e.netns, driver.join(network, e.netns, e.endpoint), e.gatewayEndpoint));
  }
  return ops;
}

/**
 * A link made on a parent for a sandbox another runtime owns is back in the host namespace
 * once that runtime let go of it (dockerd moves it back), and gone with the sandbox otherwise.
 */
export function removeExternalLink(endpoint: DriverEndpoint, live: HostLinkPresence): KernelOp[] {
  return live.links.has(endpoint.ifname) ? [{ kind: 'link-del', dev: endpoint.ifname }] : [];
}
