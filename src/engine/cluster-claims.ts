import { ConflictError, ExhaustedError } from '../common/errors.js';
import { FIRST_VNI } from '../drivers/overlay/options.js';
import type { Store } from '../store/store.js';

/**
 * What makes a network of the cluster unique besides its record: its name
 * (`network-names/<name>`) and its VXLAN id (`vnis/<vni>`), each a create-if-absent claim
 * naming the network's id.
 *
 * etcd may apply a write whose caller saw it fail: the call's deadline passed while the
 * write was on its way to a quorum (a member restarting, a slow disk), and the client
 * library tries such calls again by itself. So a claim must survive its own echo: one that
 * finds itself already held by the same network has won, and giving a claim back deletes it
 * only while it still names that network.
 *
 * A claim whose network never came to be (its creator cut off from etcd or killed between
 * the claim and the record, so that its undo could not run) is forgotten, and taken over:
 * at once by the host that made it, whose creates run one at a time (in its operation
 * queue), so that any claim of its own but the one in hand is such a leftover; by another
 * host once it is STALE_CLAIM_MS old.
 */
export type ClaimCollection = 'vnis' | 'network-names';

/** Who claims: the network being made, and the host making it (its --cluster-advertise address). */
export interface Claimant {
  readonly network: string;
  readonly host: string;
}

/**
 * What a claim holds. `host` and `since` (the claiming host's clock, ISO) tell a forgotten
 * claim from one whose network is being made; claims of releases before them have neither,
 * and are never taken over.
 */
interface Claim {
  readonly network: string;
  readonly host?: string;
  readonly since?: string;
}

/**
 * Far longer than a create takes at worst (about six store calls, each with a deadline of
 * seconds and three tries at most), with room for hosts' clocks to differ.
 */
export const STALE_CLAIM_MS = 5 * 60_000;

/** How many VXLAN ids one reservation tries before giving up to contention. */
const MAX_LOST_VNIS = 64;

/**
 * Claims `collection/id` for the claimant's network; held by another network, a
 * ConflictError saying `taken` (unless that claim is forgotten: then it is taken over).
 */
export async function claim(store: Store, collection: ClaimCollection, id: string, claimant: Claimant, taken: string, now = Date.now()): Promise<void> {
  const value: Claim = { network: claimant.network, host: claimant.host, since: new Date(now).toISOString() };
  // A claim given back between a lost create and the read of its holder is tried again.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await store.create(collection, id, value);
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
    const held = await store.get(collection, id);
    if (held === undefined) continue;
    const holder = claimOf(held.value);
    if (holder?.network === claimant.network) return;
    if (holder === undefined || !(await isForgotten(store, holder, claimant, now))) break;
    try {
      await store.put(collection, id, value, { expectedRevision: held.revision });
      return;
    } catch (err) {
      // Another host took it over first, or its creator came back to it.
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ConflictError(taken, 'choose another');
}

/** Gives `collection/id` back if it is the network's: anything else there (another network's claim, nothing) is left as it is. */
export async function giveBack(store: Store, collection: ClaimCollection, id: string, networkId: string): Promise<void> {
  const held = await store.get(collection, id);
  if (held === undefined || claimOf(held.value)?.network !== networkId) return;
  try {
    await store.delete(collection, id, { expectedRevision: held.revision });
  } catch (err) {
    // Changed since the read: no longer this network's to give.
    if (!(err instanceof ConflictError)) throw err;
  }
}

/** The lowest VXLAN id from 4096 no network of the cluster holds now (what a plan shows; nothing is reserved). */
export async function firstFreeVni(store: Store): Promise<number> {
  return nextFreeVni(await takenVnis(store), FIRST_VNI);
}

/**
 * The lowest VXLAN id from 4096 no network of the cluster holds, claimed for the claimant's
 * network. `claiming` hears of each id before its claim is tried: when this fails, the last
 * one is the only one the claimant may hold (a claim lost to another network is not).
 */
export async function reserveVni(store: Store, claimant: Claimant, claiming: (vni: number) => void, now = Date.now()): Promise<number> {
  const taken = await takenVnis(store);
  for (let lost = 0, vni = nextFreeVni(taken, FIRST_VNI); lost < MAX_LOST_VNIS; lost++, vni = nextFreeVni(taken, vni + 1)) {
    claiming(vni);
    try {
      await claim(store, 'vnis', String(vni), claimant, `VXLAN id ${vni} is held by another network`, now);
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

/** A claim whose network has no record, taken by the claimant's own host or STALE_CLAIM_MS ago or more. */
async function isForgotten(store: Store, holder: Claim, claimant: Claimant, now: number): Promise<boolean> {
  if (holder.host === undefined || holder.since === undefined) return false;
  const since = Date.parse(holder.since);
  const leftover = holder.host === claimant.host || (Number.isFinite(since) && now - since >= STALE_CLAIM_MS);
  return leftover && (await store.get('networks', holder.network)) === undefined;
}

/** A stored claim, checked (it is data entering the program); undefined when it is not one. */
function claimOf(value: unknown): Claim | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { network, host, since } = value as Record<string, unknown>;
  if (typeof network !== 'string') return undefined;
  return { network, ...(typeof host === 'string' ? { host } : {}), ...(typeof since === 'string' ? { since } : {}) };
}
