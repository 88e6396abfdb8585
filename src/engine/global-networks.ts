import { ConflictError, ExhaustedError } from '../common/errors.js';
import type { Plan } from '../kernel/ops.js';
import { hostLinkPresence } from '../kernel/view.js';
import type { Store } from '../store/store.js';
import { StoredAddressClaims } from './address-claims.js';
import type { ClusterSync } from './cluster-sync.js';
import type { EngineContext } from './context.js';
import type { AddressedNetwork } from './model.js';
import { newNetwork, type CreateNetworkRequest, type NetworkCreateContext } from './network-create.js';
import { driverNetwork } from './networks.js';
import { inTransaction } from './transaction.js';

/** Docker allocates overlay VXLAN ids from 4096 up, leaving the low ones to hand-made VXLANs. */
export const FIRST_VNI = 4096;
/** How many VXLAN ids one reservation tries before giving up to contention. */
const MAX_LOST_VNIS = 64;

/**
 * Networks that span hosts (overlay): made and removed in the cluster store, where every
 * host's ClusterSync sees them. Three claims make a network unique cluster-wide, each a
 * create-if-absent: its name (`network-names/<name>`), its VXLAN id (`vnis/<vni>`) and
 * the record itself; a failure at any step gives back the claims taken before it.
 */
export async function createGlobalNetwork(ctx: EngineContext, cluster: ClusterSync, request: CreateNetworkRequest, createContext: NetworkCreateContext): Promise<AddressedNetwork> {
  const store = cluster.link.store;
  const reserved = await reserveVni(store);
  const undo: (() => Promise<void>)[] = [];
  let vni = reserved;
  try {
    undo.push(() => store.delete('vnis', String(vni)));
    const record = newNetwork(request, { ...createContext, vni: reserved });
    if (record.driverData.vni === reserved) {
      await store.put('vnis', String(vni), { network: record.id });
    } else {
      // The request named its own VXLAN id: the reserved one goes back, that one is claimed.
      await store.delete('vnis', String(reserved));
      const named = Number(record.driverData.vni);
      await claim(store, 'vnis', String(named), record.id, `VXLAN id ${named} is used by another network of the cluster`);
      // Only now is it ours to give back: a lost claim is another network's.
      vni = named;
    }
    await claim(store, 'network-names', record.name, record.id, `network with name ${record.name} already exists in the cluster`);
    undo.push(() => store.delete('network-names', record.name));
    const driver = ctx.networks.driverOf(record);
    ctx.networks.add(record);
    try {
      await inTransaction(ctx.deps.executor, async (tx) => {
        await tx.apply(driver.createNetwork(driverNetwork(record)));
        await ctx.deps.ipam.addPool(record.id, record.ipam.subnets, 'global');
        tx.onRollback(() => ctx.deps.ipam.removePool(record.id));
        await store.create('networks', record.id, record);
      });
    } catch (err) {
      ctx.networks.remove(record.id);
      throw err;
    }
    return record;
  } catch (err) {
    for (const step of undo.reverse()) await step().catch(() => undefined);
    throw err;
  }
}

/**
 * Removes a global network from the cluster: refused while a container on any host uses
 * it (the error names them and their hosts, and hosts not in the cluster now whose
 * containers still hold addresses on it); then the record and its claims go, and every
 * host's ClusterSync removes its bridge and VXLAN link.
 */
export async function removeGlobalNetwork(ctx: EngineContext, cluster: ClusterSync, network: AddressedNetwork, localUsers: readonly string[]): Promise<void> {
  const store = cluster.link.store;
  const peers = cluster.remoteEndpointsOf(network.id);
  // A host that is down or cut off publishes nothing, but its containers still hold their addresses.
  const silent = [...new Set((await new StoredAddressClaims(store).held(network.id)).values())].filter((host) => host !== cluster.link.hostAddress && !peers.some((p) => p.vtep === host));
  const users = [
    ...localUsers.map((name) => `${name} (on ${cluster.link.hostAddress})`),
    ...peers.map((p) => `${p.containerName} (on ${p.vtep})`),
    ...silent.map((host) => `containers on ${host}, which holds addresses on it but is not in the cluster now`),
  ];
  if (users.length > 0) {
    throw new ConflictError(`network ${network.name} has active endpoints: ${users.join(', ')}`, 'remove those containers or disconnect them from it, on their hosts');
  }
  const plan: Plan = ctx.networks.driverOf(network).deleteNetwork(driverNetwork(network), hostLinkPresence());
  await store.delete('networks', network.id);
  await ctx.deps.executor.apply(plan);
  ctx.networks.remove(network.id);
  await ctx.deps.ipam.removePool(network.id);
  await new StoredAddressClaims(store).forget(network.id);
  await store.delete('vnis', String(network.driverData.vni));
  await store.delete('network-names', network.name);
}

/** The lowest VXLAN id from 4096 no network of the cluster holds now (what a plan shows; nothing is reserved). */
export async function firstFreeVni(store: Store): Promise<number> {
  return nextFreeVni(await takenVnis(store), FIRST_VNI);
}

/** The lowest VXLAN id from 4096 no network of the cluster holds, claimed for a network being made. */
async function reserveVni(store: Store): Promise<number> {
  const taken = await takenVnis(store);
  for (let lost = 0, vni = nextFreeVni(taken, FIRST_VNI); lost < MAX_LOST_VNIS; lost++, vni = nextFreeVni(taken, vni + 1)) {
    try {
      await store.create('vnis', String(vni), { network: 'being created' });
      return vni;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ExhaustedError(`no VXLAN id won after ${MAX_LOST_VNIS} tries`, 'try again: other hosts are creating networks at the same moment');
}

async function takenVnis(store: Store): Promise<Set<number>> {
  return new Set((await store.list('vnis')).map((v) => Number(v.id)));
}

function nextFreeVni(taken: ReadonlySet<number>, from: number): number {
  let vni = from;
  while (taken.has(vni)) vni++;
  return vni;
}

async function claim(store: Store, collection: 'vnis' | 'network-names', id: string, networkId: string, taken: string): Promise<void> {
  try {
    await store.create(collection, id, { network: networkId });
  } catch (err) {
    if (err instanceof ConflictError) throw new ConflictError(taken, 'choose another');
    throw err;
  }
}
