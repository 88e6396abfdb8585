import { ConflictError } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { Plan } from '../kernel/ops.js';
import { hostLinkPresence } from '../kernel/view.js';
import { StoredAddressClaims } from './address-claims.js';
import { claim, giveBack, reserveVni } from './cluster-claims.js';
import type { ClusterSync } from './cluster-sync.js';
import type { EngineContext } from './context.js';
import type { AddressedNetwork } from './model.js';
import { newNetwork, type CreateNetworkRequest, type NetworkCreateContext } from './network-create.js';
import { driverNetwork } from './networks.js';
import { inTransaction } from './transaction.js';

/**
 * Networks that span hosts (overlay): made and removed in the cluster store, where every
 * host's ClusterSync sees them. Two claims make a network unique cluster-wide, each a
 * create-if-absent naming the network's id (cluster-claims.ts): its VXLAN id and its name;
 * then the record goes under that id, new to the cluster. A failure at any step gives back
 * what the create may hold by then, including a write that failed as far as this host saw
 * (etcd may have applied it).
 */
export async function createGlobalNetwork(ctx: EngineContext, cluster: ClusterSync, request: CreateNetworkRequest, createContext: NetworkCreateContext): Promise<AddressedNetwork> {
  const store = cluster.link.store;
  const id = newId();
  const claimant = { network: id, host: cluster.link.hostAddress };
  // The VXLAN id this create last tried to claim: the only one it may hold.
  let vni: number | undefined;
  const undo: (() => Promise<void>)[] = [
    async () => {
      if (vni !== undefined) await giveBack(store, 'vnis', String(vni), id);
    },
  ];
  try {
    const reserved = await reserveVni(store, claimant, (tried) => (vni = tried));
    const record = newNetwork(request, { ...createContext, vni: reserved }, id);
    if (record.driverData.vni !== reserved) {
      // The request named its own VXLAN id: the reserved one goes back, that one is claimed.
      await giveBack(store, 'vnis', String(reserved), id);
      vni = Number(record.driverData.vni);
      await claim(store, 'vnis', String(vni), claimant, `VXLAN id ${vni} is used by another network of the cluster`);
    }
    undo.push(() => giveBack(store, 'network-names', record.name, id));
    await claim(store, 'network-names', record.name, claimant, `network with name ${record.name} already exists in the cluster`);
    const driver = ctx.networks.driverOf(record);
    ctx.networks.add(record);
    // Whatever is stored under this create's own id is its record, written or not as far as it saw.
    undo.push(() => store.delete('networks', id));
    try {
      await inTransaction(ctx.deps.executor, async (tx) => {
        await tx.apply(driver.createNetwork(driverNetwork(record)));
        await ctx.deps.ipam.addPool(record.id, record.ipam.subnets, 'global');
        tx.onRollback(() => ctx.deps.ipam.removePool(record.id));
        // A plain write, not a create-if-absent: the id is this create's own, and a write that
        // the client library tried again must not meet itself as a conflict.
        await store.put('networks', record.id, record);
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
  await giveBack(store, 'vnis', String(network.driverData.vni), network.id);
  await giveBack(store, 'network-names', network.name, network.id);
}
