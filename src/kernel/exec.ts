import { writeFileSync } from 'node:fs';
import { BerthError, KernelError, MissingFeatureError } from '../common/errors.js';
import { inversePlan, type IptablesRemove, type KernelOp, type LinkDel, type Plan } from './ops.js';
import { channelOf, ipBatchLine, renderOp, sameChannel, type Channel } from './render.js';
import { LINK_KIND_SUPPORT, type LinkKind } from './features.js';
import { leavingHostName, noteDepartures, postponeReaps, reapLink } from './reaper.js';
import { runTool } from './spawn.js';
import { inNamedNetns } from './netlink/namespaces.js';

/**
 * Applies plans to the kernel. The contract every executor keeps: a plan is applied
 * completely or not at all — when a step fails, the steps already applied are undone in
 * reverse order and one KernelError names the command that failed. Deleting a link that is
 * already gone is not a failure.
 */
export interface Executor {
  apply(plan: Plan): Promise<void>;
}

interface Batch {
  readonly channel: Channel;
  readonly ops: KernelOp[];
}

/** The executors' shared wording when undoing a failed plan also failed: the cause first, nothing swallowed. */
export function withRollbackProblems(cause: BerthError, problems: readonly string[]): BerthError {
  if (problems.length === 0) return cause;
  return new BerthError(cause.code, `${cause.message}; rolling back also failed: ${problems.join('; ')}`, cause.hint, { cause });
}

/** Splits a plan into runs of consecutive ops that one process can apply. */
export function batchesOf(plan: Plan): Batch[] {
  const batches: Batch[] = [];
  for (const op of plan) {
    const channel = channelOf(op);
    const last = batches.at(-1);
    if (last && sameChannel(last.channel, channel) && channel.tool !== 'nft') last.ops.push(op);
    else batches.push({ channel, ops: [op] });
  }
  return batches;
}

/** Thrown by one batch: how many of its ops took effect before `failedOp` failed. */
class BatchFailure extends Error {
  constructor(
    readonly appliedCount: number,
    readonly failedOp: KernelOp,
    readonly stderr: string,
  ) {
    super(stderr);
  }
}

/**
 * The executor that spawns the tools a person would use: one `ip -batch -` per namespace
 * side, one `nft -f -` per firewall transaction, sysctls written in-process. About two
 * processes per container attach (measured ~5 ms on these VMs; research/kernel-interface.md).
 */
export class BatchExecutor implements Executor {
  async apply(plan: Plan): Promise<void> {
    // Background deletions hold the kernel's RTNL lock: they wait until berth's plans pause.
    postponeReaps();
    const applied: KernelOp[] = [];
    for (const batch of batchesOf(plan)) {
      let ops = batch.ops;
      while (ops.length > 0) {
        try {
          await this.runBatch({ channel: batch.channel, ops }, false);
          applied.push(...ops);
          ops = [];
        } catch (err) {
          if (!(err instanceof BatchFailure)) throw await this.withRollback(applied, err);
          applied.push(...ops.slice(0, err.appliedCount));
          if (!isLinkAlreadyGone(err.failedOp, err.stderr)) throw await this.withRollback(applied, kernelErrorFor(err.failedOp, err.stderr));
          ops = ops.slice(err.appliedCount + 1);
        }
      }
    }
    noteDepartures(plan);
  }

  /** Best-effort undo of `applied`; returns `cause` annotated with anything the undo could not do. */
  private async withRollback(applied: KernelOp[], cause: unknown): Promise<unknown> {
    const problems: string[] = [];
    for (const batch of batchesOf(inversePlan(applied))) {
      try {
        await this.runBatch(batch, true);
      } catch (err) {
        problems.push(err instanceof BatchFailure ? `${renderOp(err.failedOp)}: ${firstLine(err.stderr)}` : String(err));
      }
    }
    return cause instanceof BerthError ? withRollbackProblems(cause, problems) : cause;
  }

  private async runBatch(batch: Batch, keepGoing: boolean): Promise<void> {
    const { channel, ops } = batch;
    switch (channel.tool) {
      case 'ip':
        return runIpBatch(channel.netns, ops, keepGoing);
      case 'bridge':
        return runBatchOf('bridge', [], ops, keepGoing);
      case 'nft':
        return runNft(channel.netns, ops[0]!);
      case 'iptables':
        for (const [i, op] of ops.entries()) {
          try {
            await runIptables(op);
          } catch (err) {
            throw new BatchFailure(i, op, err instanceof Error ? err.message : String(err));
          }
        }
        return;
      case 'sysctl':
        for (const [i, op] of ops.entries()) {
          if (op.kind !== 'sysctl') continue;
          try {
            writeSysctl(op.key, op.value, op.netns);
          } catch (err) {
            throw new BatchFailure(i, op, err instanceof Error ? err.message : String(err));
          }
        }
    }
  }
}

async function runIpBatch(netns: string | undefined, ops: KernelOp[], keepGoing: boolean): Promise<void> {
  // A link deleted in the background is only taken down and renamed here (its name is free
  // at once); the reaper deletes it after. Down and rename are one line each, so a failure's
  // line number is mapped back to the plan's op.
  const lines: string[] = [];
  const opOfLine: number[] = [];
  const reaped: [string, NonNullable<LinkDel['background']>][] = [];
  for (const [i, op] of ops.entries()) {
    if (op.kind === 'link-del' && op.background) {
      const leaving = leavingHostName();
      lines.push(`link set dev ${op.dev} down`, `link set dev ${op.dev} name ${leaving}`);
      opOfLine.push(i, i);
      reaped.push([leaving, op.background]);
    } else {
      lines.push(ipBatchLine(op));
      opOfLine.push(i);
    }
  }
  const result = await runTool('ip', [...(netns ? ['-n', netns] : []), ...(keepGoing ? ['-force'] : []), '-batch', '-'], lines.join('\n') + '\n');
  if (result.code !== 0) {
    const failedLine = /Command failed -:(\d+)/.exec(result.stderr);
    const index = opOfLine[failedLine ? Number(failedLine[1]) - 1 : 0] ?? 0;
    throw new BatchFailure(index, ops[Math.min(index, ops.length - 1)]!, result.stderr);
  }
  for (const [name, when] of reaped) reapLink(name, when);
}

/** One `ip -batch -` or `bridge -batch -` process for `ops` (both tools report a failed line the same way). */
async function runBatchOf(tool: 'ip' | 'bridge', prefix: readonly string[], ops: KernelOp[], keepGoing: boolean): Promise<void> {
  const args = [...prefix, ...(keepGoing ? ['-force'] : []), '-batch', '-'];
  const result = await runTool(tool, args, ops.map(ipBatchLine).join('\n') + '\n');
  if (result.code === 0) return;
  // `ip -batch` stops at the first failing line and reports it as "Command failed -:N".
  const failedLine = /Command failed -:(\d+)/.exec(result.stderr);
  const index = failedLine ? Number(failedLine[1]) - 1 : 0;
  throw new BatchFailure(index, ops[Math.min(index, ops.length - 1)]!, result.stderr);
}

async function runNft(netns: string | undefined, op: KernelOp): Promise<void> {
  if (op.kind !== 'nft-apply') throw new Error('nft batch holds a non-nft op');
  // JSON on stdin (`nft -j -f -`) fails under Node's spawn; plain text works.
  const result = netns
    ? await runTool('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], op.script)
    : await runTool('nft', ['-f', '-'], op.script);
  if (result.code !== 0) throw new BatchFailure(0, op, result.stderr);
}

/** Ensures berth's persistent chains, restores its chains, then ensures the jumps into them. */
async function runIptables(op: KernelOp): Promise<void> {
  if (op.kind === 'iptables-remove') return removeIptables(op);
  if (op.kind !== 'iptables-apply') throw new Error('iptables batch holds a non-iptables op');
  const must = async (args: string[], stdin = ''): Promise<void> => {
    const result = await runTool(args[0]!, args.slice(1), stdin);
    if (result.code !== 0) throw new Error(result.stderr.trim() || `${args.join(' ')} failed`);
  };
  for (const c of op.ensureChains) {
    if ((await runTool('iptables', ['-w', '-t', c.table, '-n', '-L', c.chain])).code === 0) continue;
    await must(['iptables', '-w', '-t', c.table, '-N', c.chain]);
    for (const rule of c.rules) await must(['iptables', '-w', '-t', c.table, '-A', c.chain, ...rule.split(' ')]);
  }
  if (op.script !== '') await must(['iptables-restore', '-w', '--noflush'], op.script);
  for (const j of op.ensureJumps) {
    const rule = j.rule.split(' ');
    if ((await runTool('iptables', ['-w', '-t', j.table, '-C', j.chain, ...rule])).code !== 0) {
      await must(['iptables', '-w', '-t', j.table, '-I', j.chain, '1', ...rule]);
    }
  }
}

/**
 * Deletes every copy of each jump, then flushes and deletes each chain; absent ones are
 * skipped. Without an iptables binary there can be no such rules: nothing to do.
 */
async function removeIptables(op: IptablesRemove): Promise<void> {
  // One iptables-save tells whether there is anything to do (the common case: nothing).
  const saved = await runTool('iptables-save', []).catch(() => undefined);
  if (!saved || saved.code !== 0 || !op.chains.some((c) => saved.stdout.includes(`:${c.chain} `))) return;
  for (const j of op.jumps) {
    const rule = j.rule.split(' ');
    // A bounded loop: a jump inserted twice is deleted twice; a delete that keeps
    // "succeeding" must not spin forever.
    for (let i = 0; i < 16 && (await runTool('iptables', ['-w', '-t', j.table, '-D', j.chain, ...rule])).code === 0; i++);
  }
  for (const c of op.chains) {
    if ((await runTool('iptables', ['-w', '-t', c.table, '-n', '-L', c.chain])).code !== 0) continue;
    const flushed = await runTool('iptables', ['-w', '-t', c.table, '-F', c.chain]);
    const deleted = flushed.code === 0 ? await runTool('iptables', ['-w', '-t', c.table, '-X', c.chain]) : flushed;
    if (deleted.code !== 0) throw new Error(`cannot remove chain ${c.chain} of table ${c.table}: ${deleted.stderr.trim()}`);
  }
}

/**
 * = sysctl -w KEY=VALUE, in `netns` when given: /proc/sys/net shows the namespace of the
 * thread that opens it, so the write happens while this thread is inside (no process).
 */
export function writeSysctl(key: string, value: string, netns: string | undefined): void {
  const write = () => writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  if (netns === undefined) write();
  else inNamedNetns(netns, write);
}

/**
 * A `link del` whose link is already gone reached the state it wanted: a veth vanishes on
 * its own when the namespace holding its peer is freed, which can happen between the read
 * a plan was made from and the step (both executors treat it so).
 */
function isLinkAlreadyGone(op: KernelOp, stderr: string): boolean {
  return op.kind === 'link-del' && /Cannot find device/.test(stderr);
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'failed';
}

/** The error for a failed op; names the missing kernel feature when that is why a link could not be created. */
export function kernelErrorFor(op: KernelOp, stderr: string): BerthError {
  const command = renderOp(op).split('\n')[0]!;
  const kind = linkKindCreatedBy(op);
  if (/Unknown device type/i.test(stderr) && kind !== undefined) return missingLinkKind(kind, command);
  return new KernelError(`kernel operation failed: ${command}: ${firstLine(stderr)}`, command, stderr);
}

/** The link kind an op creates, if it creates one. */
function linkKindCreatedBy(op: KernelOp): LinkKind | undefined {
  switch (op.kind) {
    case 'veth-add':
      return 'veth';
    case 'bridge-add':
      return 'bridge';
    case 'macvlan-add':
      return 'macvlan';
    case 'ipvlan-add':
      return 'ipvlan';
    case 'vlan-add':
      return 'vlan';
    case 'dummy-add':
      return 'dummy';
    case 'vxlan-add':
      return 'vxlan';
    case 'fdb-replace':
    case 'fdb-del':
    case 'port-fdb-static':
    case 'neigh-replace':
    case 'neigh-del':
    case 'netns-add':
    case 'netns-attach':
    case 'netns-del':
    case 'link-up':
    case 'link-no-ipv6-address':
    case 'link-down':
    case 'link-alias':
    case 'port-attach':
    case 'port-hairpin':
    case 'link-del':
    case 'link-rename':
    case 'addr-add':
    case 'addr-del':
    case 'route-add':
    case 'route-del':
    case 'sysctl':
    case 'nft-apply':
    case 'iptables-apply':
    case 'iptables-remove':
      return undefined;
  }
}

/** The error for a link the kernel cannot create because its support is missing. */
export function missingLinkKind(kind: LinkKind, command: string): MissingFeatureError {
  return new MissingFeatureError(`this kernel lacks ${LINK_KIND_SUPPORT[kind]}: "${command}" failed`, `berth needs a kernel with ${kind} links for this`);
}
