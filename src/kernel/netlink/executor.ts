import { closeSync } from 'node:fs';
import { BerthError, KernelError } from '../../common/errors.js';
import { BatchExecutor, kernelErrorFor, missingLinkKind, withRollbackProblems, writeSysctl, type Executor } from '../exec.js';
import { libnftablesAvailable, runNft } from '../libnftables.js';
import { leavingHostName, noteDepartures, postponeReaps, reapLink } from '../reaper.js';
import { inversePlan, type KernelOp, type Plan } from '../ops.js';
import { renderOp } from '../render.js';
import { addNetns, deleteNetns, inNetns, openNetns, pinNetns } from './namespaces.js';
import { closeReady, netnsPool } from './netns-pool.js';
import { NftObjectMissing } from './nf-tables-socket.js';
import { applyChainChange } from './nft-chains.js';
import { applyElements } from './nft-elements.js';
import { Rtnl } from './rtnl.js';

/**
 * The in-process executor: rtnetlink requests answered synchronously (rtnl.ts,
 * route-socket.ts) and namespaces through libc, so a container attach spawns no process
 * and waits for no turn of the event loop (research: ~1.1 ms against ~5 ms for two
 * `ip -batch` processes). It applies the same plans as BatchExecutor with the same
 * contract — all or nothing, one KernelError naming the failed command as `ip` would
 * print it. nftables transactions go through libnftables in-process (the same text `nft -f`
 * takes), and sysctls are written to /proc/sys here, as BatchExecutor writes them. The ops
 * it has no in-process form for (iptables, vxlan, ...) go to a BatchExecutor, one at a
 * time, in plan order.
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
    // One socket per namespace for the whole plan: an attach's five namespace-side
    // requests then cost one setns, not five (none, in a namespace from the pool).
    const namespaces: PlanNamespaces = { sockets: new Map(), loopbackUp: new Set() };
    try {
      for (const op of plan) {
        try {
          await this.applyOne(op, namespaces);
        } catch (err) {
          throw await this.rollback(applied, err instanceof BerthError ? err : errorFor(op, err), namespaces);
        }
        applied.push(op);
      }
      noteDepartures(plan);
    } finally {
      for (const socket of namespaces.sockets.values()) socket.close();
    }
  }

  private async rollback(applied: KernelOp[], cause: BerthError, namespaces: PlanNamespaces): Promise<BerthError> {
    const problems: string[] = [];
    for (const op of inversePlan(applied)) {
      try {
        await this.applyOne(op, namespaces);
      } catch (err) {
        problems.push(`${renderOp(op).split('\n')[0]!}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return withRollbackProblems(cause, problems);
  }

  private async applyOne(op: KernelOp, namespaces: PlanNamespaces): Promise<void> {
    const inside = (netns: string | undefined, action: (socket: Rtnl) => void) => action(this.socketFor(netns, namespaces.sockets));
    switch (op.kind) {
      case 'netns-add': {
        const made = netnsPool.take();
        if (made === undefined) return addNetns(op.name);
        try {
          pinNetns(op.name, made.netnsFd);
        } catch (err) {
          closeReady(made);
          throw err;
        }
        closeSync(made.netnsFd);
        namespaces.sockets.set(op.name, new Rtnl(made.rtnetlinkFd));
        namespaces.loopbackUp.add(op.name);
        return;
      }
      case 'netns-del':
        namespaces.sockets.get(op.name)?.close();
        namespaces.sockets.delete(op.name);
        namespaces.loopbackUp.delete(op.name);
        return deleteNetns(op.name);
      case 'veth-add': {
        if (op.peerNetns === undefined) return this.host.addVeth(op);
        const fd = openNetns(op.peerNetns);
        try {
          return this.host.addVeth({ ...op, peerNetnsFd: fd });
        } finally {
          closeSync(fd);
        }
      }
      case 'macvlan-add': {
        if (op.netns === undefined) return this.host.addMacvlan(op);
        const fd = openNetns(op.netns);
        try {
          return this.host.addMacvlan({ ...op, netnsFd: fd });
        } finally {
          closeSync(fd);
        }
      }
      case 'link-up':
        // The pool brought this namespace's lo up, and nothing has touched it since: done.
        if (op.dev === 'lo' && op.netns !== undefined && namespaces.loopbackUp.has(op.netns)) return;
        return inside(op.netns, (s) => s.setUp(op.dev));
      case 'link-no-ipv6-address':
        return inside(op.netns, (s) => s.setNoIpv6Address(op.dev));
      case 'link-down':
        return inside(op.netns, (s) => s.setDown(op.dev));
      case 'link-del':
        if (op.background && op.netns === undefined) {
          const leaving = leavingHostName();
          try {
            // Down, then the new name (the kernel renames only a link that is down).
            this.host.setDown(op.dev);
            this.host.rename(op.dev, leaving);
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
        return inside(op.netns, (s) => s.addAddressAt(s.linkIndex(op.dev), address!, Number(prefix)));
      }
      case 'addr-del': {
        const [address, prefix] = op.cidr.split('/');
        return inside(op.netns, (s) => s.deleteAddressAt(s.linkIndex(op.dev), address!, Number(prefix)));
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
        return this.host.addBridge(op.name, op.mac, op.mtu);
      case 'nft-apply':
        return applyNft(op);
      case 'sysctl':
        try {
          return writeSysctl(op.key, op.value, op.netns);
        } catch (err) {
          throw kernelErrorFor(op, err instanceof Error ? err.message : String(err));
        }
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
      case 'iptables-apply':
      case 'iptables-remove':
        return this.fallback.apply([op]);
    }
  }

  /** A socket of the host, or of namespace `netns` (opened once per plan, while this thread is inside it). */
  private socketFor(netns: string | undefined, sockets: PlanSockets): Rtnl {
    if (netns === undefined) return this.host;
    let socket = sockets.get(netns);
    if (!socket) {
      const fd = openNetns(netns);
      try {
        socket = inNetns(fd, () => new Rtnl());
      } finally {
        closeSync(fd);
      }
      sockets.set(netns, socket);
    }
    return socket;
  }
}

/** What one plan's steps share: a socket per namespace they act in, by its name. */
type PlanSockets = Map<string, Rtnl>;

/** A plan's namespaces: their sockets, and those the plan took from the pool with lo already up. */
interface PlanNamespaces {
  readonly sockets: PlanSockets;
  readonly loopbackUp: Set<string>;
}

/** `ip route add default via GW`: the one route form with an in-process request. */
function isPlainDefaultRoute(op: Extract<KernelOp, { kind: 'route-add' }>): boolean {
  return op.dst === 'default' && op.via !== undefined && op.dev === undefined && op.replace !== true;
}

/**
 * An nft transaction through libnftables in this process (in the op's namespace), or through
 * `nft` where the library is missing. In the host's namespace, a change the op also carries
 * as structure (set elements, or chains with their rules) goes as nf_tables messages of
 * berth's own (nft-elements.ts, nft-chains.ts), and as the script only when an object it
 * names is missing (the script declares it).
 */
async function applyNft(op: Extract<KernelOp, { kind: 'nft-apply' }>): Promise<void> {
  if (op.netns === undefined && (op.elements || op.chains)) {
    try {
      if (op.elements) applyElements(op.elements);
      else if (op.chains) applyChainChange(op.chains);
      return;
    } catch (err) {
      if (!(err instanceof NftObjectMissing)) throw kernelErrorFor(op, err instanceof Error ? err.message : String(err));
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
