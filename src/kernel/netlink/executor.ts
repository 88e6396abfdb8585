import { closeSync } from 'node:fs';
import { BerthError, KernelError } from '../../common/errors.js';
import { BatchExecutor, kernelErrorFor, missingLinkKind, withRollbackProblems, type Executor } from '../exec.js';
import { libnftablesAvailable, runNft } from '../libnftables.js';
import { leavingHostName, noteDepartures, postponeReaps, reapLink } from '../reaper.js';
import { inversePlan, type KernelOp, type Plan } from '../ops.js';
import { renderOp } from '../render.js';
import { hostLinkIndex } from '../read.js';
import { addNetns, deleteNetns, inNetns, openNetns, pinNetns } from './namespaces.js';
import { netnsPool } from './netns-pool.js';
import { applyElements, NftSetMissing } from './nft-elements.js';
import { Rtnl } from './rtnl.js';

/**
 * The in-process executor: rtnetlink through the `netlink` package and namespaces through
 * libc, so a container attach spawns no process (research: ~1.1 ms against ~5 ms for two
 * `ip -batch` processes). It applies the same plans as BatchExecutor with the same
 * contract — all or nothing, one KernelError naming the failed command as `ip` would
 * print it. nftables transactions go through libnftables in-process (the same text `nft -f`
 * takes). The ops it has no in-process form for (sysctl, iptables, vxlan, ...) go to a
 * BatchExecutor, one at a time, in plan order.
 */
export class NetlinkExecutor implements Executor {
  private readonly fallback = new BatchExecutor();
  private hostSocket: Rtnl | undefined;

  private get host(): Rtnl {
    this.hostSocket ??= new Rtnl();
    return this.hostSocket;
  }

  async apply(plan: Plan): Promise<void> {
    // Background deletions hold the kernel's RTNL lock: they wait until berth's plans pause.
    postponeReaps();
    const applied: KernelOp[] = [];
    // One socket per namespace for the whole plan: an attach's four namespace-side
    // requests then cost one setns round trip, not four.
    const state: PlanState = { sockets: new Map(), indexes: new Map() };
    try {
      for (let next = 0; next < plan.length; ) {
        const together = requestsTogetherAt(plan, next);
        try {
          if (together.length > 1) await this.applyTogether(together, state, applied);
          else {
            await this.applyOne(plan[next]!, state);
            applied.push(plan[next]!);
          }
        } catch (err) {
          throw await this.rollback(applied, err instanceof BerthError ? err : errorFor(plan[next]!, err), state);
        }
        next += Math.max(1, together.length);
      }
      noteDepartures(plan);
    } finally {
      for (const socket of state.sockets.values()) socket.close();
    }
  }

  /**
   * Consecutive steps that are one rtnetlink request each, sent one after another without
   * waiting for each answer, each on its namespace's socket: the kernel handles an rtnetlink
   * request inside the send call, so they take effect in plan order whatever socket carries
   * them, and the answers come back together (an attach's host-side step and its five steps
   * in the sandbox, or a new bridge's alias, address and up, then cost about one round trip).
   * The indexes of the links the steps name are asked first (a link not found fails the plan
   * at its step, before anything is sent). Every step the kernel accepted counts as applied,
   * also those after a refused one, so the rollback undoes them; the error is the first
   * refusal's.
   */
  private async applyTogether(ops: readonly RequestOp[], state: PlanState, applied: KernelOp[]): Promise<void> {
    const { indexes } = state;
    for (const op of ops) {
      const key = linkKey(op);
      if ((op.kind !== 'addr-add' && op.kind !== 'addr-del' && op.kind !== 'link-rename') || indexes.has(key)) continue;
      try {
        indexes.set(key, await this.socketFor(netnsOfRequest(op), state).linkIndex(op.dev));
      } catch (err) {
        // Nothing is sent yet: the plan fails at this step, as it would have step by step.
        throw errorFor(op, err);
      }
    }
    const sent = ops.map((op) => sendRequest(op, this.socketFor(netnsOfRequest(op), state), indexes.get(linkKey(op))));
    // A renamed link's old name may be another link's later in the plan.
    for (const op of ops) if (op.kind === 'link-rename') indexes.delete(linkKey(op));
    const outcomes = await Promise.allSettled(sent);
    let refused: BerthError | undefined;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') applied.push(ops[i]!);
      else refused ??= errorFor(ops[i]!, outcome.reason);
    });
    if (refused) throw refused;
  }

  private async rollback(applied: KernelOp[], cause: BerthError, state: PlanState): Promise<BerthError> {
    const problems: string[] = [];
    for (const op of inversePlan(applied)) {
      try {
        await this.applyOne(op, state);
      } catch (err) {
        problems.push(`${renderOp(op).split('\n')[0]!}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return withRollbackProblems(cause, problems);
  }

  private async applyOne(op: KernelOp, state: PlanState): Promise<void> {
    const inside = (netns: string | undefined, action: (socket: Rtnl) => Promise<void>) => action(this.socketFor(netns, state));
    switch (op.kind) {
      case 'netns-add': {
        const made = netnsPool.take();
        if (made === undefined) return addNetns(op.name);
        try {
          return pinNetns(op.name, made);
        } finally {
          closeSync(made);
        }
      }
      case 'netns-del':
        state.sockets.get(op.name)?.close();
        state.sockets.delete(op.name);
        for (const key of state.indexes.keys()) if (key.startsWith(`${op.name}/`)) state.indexes.delete(key);
        return deleteNetns(op.name);
      case 'veth-add': {
        // The bridge's index asked synchronously (an ioctl in the daemon's namespace, the host's socket's): no round trip first.
        const request = { ...op, masterIndex: hostLinkIndex(op.master) };
        if (op.peerNetns === undefined) {
          await this.host.addVeth(request);
          return;
        }
        const fd = openNetns(op.peerNetns);
        try {
          const peerIndex = await this.host.addVeth({ ...request, peerNetnsFd: fd });
          if (peerIndex !== undefined) state.indexes.set(`${op.peerNetns}/${op.peerName}`, peerIndex);
          return;
        } finally {
          closeSync(fd);
        }
      }
      case 'macvlan-add': {
        if (op.netns === undefined) return this.host.addMacvlan(op);
        const fd = openNetns(op.netns);
        try {
          return await this.host.addMacvlan({ ...op, netnsFd: fd });
        } finally {
          closeSync(fd);
        }
      }
      case 'link-up':
        return inside(op.netns, (s) => s.setUp(op.dev));
      case 'link-no-ipv6-address':
        return inside(op.netns, (s) => s.setNoIpv6Address(op.dev));
      case 'link-down':
        return inside(op.netns, (s) => s.setDown(op.dev));
      case 'link-del':
        state.indexes.delete(`${op.netns ?? ''}/${op.dev}`);
        if (op.background && op.netns === undefined) {
          const leaving = leavingHostName();
          try {
            // Both requests sent together: down, then the new name (the kernel renames only a link that is down).
            const index = await this.host.linkIndex(op.dev);
            await Promise.all([this.host.setDown(op.dev), this.host.renameAt(index, leaving)]);
          } catch (err) {
            // Already gone (as deleting it would have found): done.
            if (err instanceof Error && /\bENODEV\b|Cannot find device/.test(err.message)) return;
            throw err;
          }
          return reapLink(leaving, op.background);
        }
        return inside(op.netns, (s) => s.deleteLink(op.dev));
      case 'link-rename':
        return inside(op.netns, (s) => s.rename(op.dev, op.name));
      case 'addr-add': {
        const [address, prefix] = op.cidr.split('/');
        return inside(op.netns, (s) => s.addAddress(op.dev, address!, Number(prefix)));
      }
      case 'addr-del': {
        const [address, prefix] = op.cidr.split('/');
        return inside(op.netns, async (s) => s.deleteAddressAt(await s.linkIndex(op.dev), address!, Number(prefix)));
      }
      case 'route-add':
        if (isPlainDefaultRoute(op) && op.via !== undefined) {
          const via = op.via;
          return inside(op.netns, (s) => s.addDefaultRoute(via));
        }
        return this.fallback.apply([op]);
      case 'link-alias':
        return this.host.setAlias(op.dev, op.alias);
      case 'port-attach':
        return this.host.setMaster(op.dev, op.master);
      case 'port-hairpin':
        return this.host.setHairpin(op.dev);
      case 'bridge-add':
        return this.host.addBridge(op.name, op.mtu);
      case 'nft-apply':
        return applyNft(op);
      // A peer's container on another host: its MAC behind that host's VTEP, its address at its MAC.
      case 'fdb-replace':
        return inside(undefined, (s) => s.replaceFdb(op.dev, op.mac, op.dst));
      case 'fdb-del':
        return inside(undefined, (s) => s.deleteFdb(op.dev, op.mac, op.dst));
      case 'port-fdb-static':
        return this.host.replacePortFdb(op.dev, op.mac);
      case 'neigh-replace':
        return inside(undefined, (s) => s.replaceNeighbour(op.dev, op.address, op.mac));
      case 'neigh-del':
        return inside(undefined, (s) => s.deleteNeighbour(op.dev, op.address));
      case 'netns-attach':
      case 'ipvlan-add':
      case 'vxlan-add':
      case 'vlan-add':
      case 'dummy-add':
      case 'route-del':
      case 'sysctl':
      case 'iptables-apply':
      case 'iptables-remove':
        return this.fallback.apply([op]);
    }
  }

  /** A socket of the host, or of namespace `netns` (opened once per plan, while this thread is inside it). */
  private socketFor(netns: string | undefined, state: PlanState): Rtnl {
    if (netns === undefined) return this.host;
    let socket = state.sockets.get(netns);
    if (!socket) {
      const fd = openNetns(netns);
      try {
        socket = inNetns(fd, () => new Rtnl());
      } finally {
        closeSync(fd);
      }
      state.sockets.set(netns, socket);
    }
    return socket;
  }
}

/** What one plan's steps share: a socket per namespace, and the indexes of links already known (made or looked up by an earlier step), by namespace and name. */
interface PlanState {
  readonly sockets: Map<string, Rtnl>;
  readonly indexes: Map<string, number>;
}

/** A step that is one rtnetlink request once its link's index is known. */
type RequestOp =
  | Extract<KernelOp, { kind: 'link-up' | 'link-down' | 'link-rename' | 'link-no-ipv6-address' | 'addr-add' | 'addr-del' | 'link-alias' }>
  | (Extract<KernelOp, { kind: 'route-add' }> & { readonly via: string });

function isRequestOp(op: KernelOp): op is RequestOp {
  if (op.kind === 'link-up' || op.kind === 'link-down' || op.kind === 'link-rename' || op.kind === 'link-no-ipv6-address' || op.kind === 'addr-add' || op.kind === 'addr-del' || op.kind === 'link-alias') return true;
  return op.kind === 'route-add' && isPlainDefaultRoute(op);
}

/** The namespace a request step acts in (undefined: the host). */
function netnsOfRequest(op: RequestOp): string | undefined {
  return op.kind === 'link-alias' ? undefined : op.netns;
}

/** `ip route add default via GW`: the one route form with an in-process request. */
function isPlainDefaultRoute(op: Extract<KernelOp, { kind: 'route-add' }>): boolean {
  return op.dst === 'default' && op.via !== undefined && op.dev === undefined && op.replace !== true;
}

/**
 * The steps from `start` on that go together: consecutive request steps, in any namespaces
 * (none when the step at `start` is not one). A rename ends the run: the indexes are asked
 * before anything is sent, and a later step could name the link by its new name.
 */
function requestsTogetherAt(plan: Plan, start: number): RequestOp[] {
  const first = plan[start]!;
  if (!isRequestOp(first)) return [];
  const run: RequestOp[] = [first];
  for (let i = start + 1; i < plan.length && run.at(-1)!.kind !== 'link-rename'; i++) {
    const op = plan[i]!;
    if (!isRequestOp(op)) break;
    run.push(op);
  }
  return run;
}

/** A link as a step names it: its namespace and its name. */
function linkKey(op: RequestOp): string {
  return `${netnsOfRequest(op) ?? ''}/${op.dev}`;
}

/** Sends the step's request at once (nothing awaited before the send); resolves with the kernel's answer. `index`: the link's, for the steps that name it by index. */
function sendRequest(op: RequestOp, socket: Rtnl, index: number | undefined): Promise<void> {
  switch (op.kind) {
    case 'link-up':
      return socket.setUp(op.dev);
    case 'link-down':
      return socket.setDown(op.dev);
    case 'link-rename':
      return socket.renameAt(index!, op.name);
    case 'link-no-ipv6-address':
      return socket.setNoIpv6Address(op.dev);
    case 'link-alias':
      return socket.setAlias(op.dev, op.alias);
    case 'addr-add': {
      const [address, prefix] = op.cidr.split('/');
      return socket.addAddressAt(index!, address!, Number(prefix));
    }
    case 'addr-del': {
      const [address, prefix] = op.cidr.split('/');
      return socket.deleteAddressAt(index!, address!, Number(prefix));
    }
    case 'route-add':
      return socket.addDefaultRoute(op.via);
  }
}

/**
 * An nft transaction through libnftables in this process (in the op's namespace), or through
 * `nft` where the library is missing. A change of set elements in the host's namespace goes
 * as nf_tables messages of berth's own (nft-elements.ts), and as the script only when a set
 * is missing (the script declares it).
 */
async function applyNft(op: Extract<KernelOp, { kind: 'nft-apply' }>): Promise<void> {
  if (op.elements && op.netns === undefined) {
    try {
      return applyElements(op.elements);
    } catch (err) {
      if (!(err instanceof NftSetMissing)) throw kernelErrorFor(op, err instanceof Error ? err.message : String(err));
    }
  }
  if (!libnftablesAvailable()) return new BatchExecutor().apply([op]);
  try {
    if (op.netns === undefined) runNft(op.script);
    else {
      const fd = openNetns(op.netns);
      try {
        inNetns(fd, () => runNft(op.script, 'here'));
      } finally {
        closeSync(fd);
      }
    }
  } catch (err) {
    throw kernelErrorFor(op, err instanceof Error ? err.message : String(err));
  }
}

/** Errors worded as `ip` words them, so both executors read the same to a user. */
function errorFor(op: KernelOp, err: unknown): BerthError {
  const command = renderOp(op).split('\n')[0]!;
  const detail = err instanceof Error ? err.message : String(err);
  if ((op.kind === 'veth-add' || op.kind === 'macvlan-add') && /EOPNOTSUPP|ENOTSUP/.test(detail)) return missingLinkKind(op.kind === 'veth-add' ? 'veth' : 'macvlan', command);
  return new KernelError(`kernel operation failed: ${command}: ${detail}`, command, detail, { cause: err });
}
