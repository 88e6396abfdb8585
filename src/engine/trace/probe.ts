import { InvalidArgumentError } from '../../common/errors.js';
import { beginDropWatch, closeDropWatch, dropsOfProbe, endDropWatch, meaningOf, type DropMeaning, type KernelDrop } from '../../kernel/drop-reasons.js';
import { NftTraceSession, stopTracing, type TraceEvent } from '../../kernel/nftrace.js';
import { neighbourUnanswered, sendProbe, type SendOutcome } from '../../kernel/path-probe.js';
import { withoutCounts, type NftRuleset } from '../../firewall/nft-eval.js';
import type { PathFacts, PathSource, PathTarget, TraceHop, TraceResult, TraceRule, Verdict } from './model.js';

/** How long a probe waits for an answer before calling the packet silent. */
export const PROBE_TIMEOUT_MS = 500;

/**
 * `berth trace --probe`: one real packet from the source's namespace, marked for nftables
 * tracing, and what really happened to it: the sender's view (connected, reset, ICMP
 * unreachable, silence) and every rule and policy the kernel reports it met, by handle.
 * A drop the trace reports ends the wait at once. A drop outside netfilter is named by the
 * kernel's drop tracepoint (kernel/drop-reasons.ts): its reason says no route, no socket,
 * or what else cut the path. Silence with no drop seen is read from the neighbour tables,
 * the source's and the host's (nobody answered ARP: no route), or, for UDP, as delivered
 * (a datagram to a socket that does not reply).
 */
export async function probePath(source: PathSource, target: PathTarget, facts: PathFacts, senderDir: string): Promise<TraceResult> {
  if (source.kind === 'outside') {
    throw new InvalidArgumentError(`cannot probe from ${source.label}: berth runs nothing beyond the uplink`, 'drop --probe: the model needs no packet');
  }
  const netns = source.kind === 'sandbox' ? source.netns : undefined;
  return oneAtATime(async () => {
    const route = await facts.routeGet(netns, target.address);
    if (!route.ok) {
      // The kernel refuses to send what it has no route for: that refusal is the answer.
      return { verdict: 'no-route', method: 'probe', hops: [{ at: source.label, what: `the kernel refused to send: no route to ${target.address} (${route.reason})` }], notes: [] };
    }
    const from = route.source && !route.local ? ` ip saddr ${route.source}` : '';
    const l4 = target.proto === 'icmp' ? ' meta l4proto icmp' : ` ${target.proto} dport ${target.port ?? 0}`;
    // Nobody answering ARP: for the next hop in the source's namespace, or for the address on the host (a path through it).
    const throughHost = netns !== undefined && route.gateway !== undefined && (await facts.hostAddresses()).has(route.gateway);
    const arpUnanswered = async () => (await neighbourUnanswered(netns, route.gateway ?? target.address)) || (throughHost && (await neighbourUnanswered(undefined, target.address)));
    const session = await NftTraceSession.start(`ip daddr ${target.address}${from}${l4}`);
    let outcome: SendOutcome;
    let events: TraceEvent[];
    let kernelDrops: KernelDrop[] = [];
    let dropReasonsUnavailable: string | undefined;
    try {
      dropReasonsUnavailable = await beginDropWatch();
      outcome = await Promise.race([sendProbe(netns, target.proto, target.address, target.port, PROBE_TIMEOUT_MS, senderDir), dropSeen(session), arpStuck(arpUnanswered)]);
      // The monitor prints what the kernel reported a moment after the sender returns.
      await sleep(20);
      events = firstPacket(session.events());
    } finally {
      if (dropReasonsUnavailable === undefined) kernelDrops = await endDropWatch();
      await session.stop();
    }
    const hops: TraceHop[] = [{ at: source.label, what: `sent a real ${target.proto} packet to ${target.address}${target.port === undefined ? '' : `:${target.port}`}` }];
    // Rules the monitor could not print (made after it started) are read from the ruleset now.
    const ruleset = events.some((e) => e.rule && e.rule.text === undefined) ? await facts.ruleset() : undefined;
    for (const e of events) {
      hops.push({
        at: `${e.table} ${e.chain}`,
        what: e.rule ? `verdict ${e.verdict}` : `policy ${e.verdict}`,
        ...(e.rule ? { rule: ruleOf(e.table, e.chain, { handle: e.rule.handle, text: e.rule.text ?? ruleText(ruleset, e.table, e.chain, e.rule.handle) }, facts) } : {}),
      });
    }
    const dropped = events.some((e) => e.verdict === 'drop');
    // Netfilter's drops are the trace's to tell (with the rule); the tracepoint adds the rest.
    // With an answer back, what the sender's task saw dropped was some other packet (a duplicate reply).
    const outside = outcome === 'answered' ? [] : dropsOfProbe(kernelDrops, target.proto).filter((d) => d.reason !== 'NETFILTER_DROP').map((d) => ({ ...d, ...meaningOf(d) }));
    for (const d of outside) hops.push({ at: 'kernel', what: `dropped it: ${d.words} (reason ${d.reason}, at ${d.location})` });
    const verdict = await verdictOf(outcome, dropped, outside, target, arpUnanswered);
    hops.push({ at: source.label, what: SEEN[outcome](target) });
    const notes: string[] = [];
    if (outcome === 'silent' && !dropped && outside.length === 0) {
      notes.push(dropReasonsUnavailable ? `no netfilter rule reported a drop, and the kernel's drop reasons are not available (${dropReasonsUnavailable})` : 'neither netfilter nor the kernel\'s drop tracepoint reported a drop in the sender\'s path');
    }
    return { verdict, method: 'probe', hops, notes };
  });
}

/** Ends what probes keep between them (the trace monitor) and waits for a tracing instance's removal: the daemon stopping. */
export async function stopProbing(): Promise<void> {
  stopTracing();
  await closeDropWatch();
}

async function verdictOf(
  outcome: SendOutcome,
  netfilterDropped: boolean,
  kernelDrops: readonly { readonly meaning: DropMeaning; readonly known: boolean }[],
  target: PathTarget,
  arpUnanswered: () => Promise<boolean>,
): Promise<Verdict> {
  switch (outcome) {
    case 'answered':
      return 'delivered';
    case 'refused':
      return 'no-listener';
    case 'unreachable':
      return 'no-route';
    case 'silent': {
      if (netfilterDropped) return 'dropped';
      const known = kernelDrops.find((d) => d.known);
      if (known) return known.meaning;
      if (await arpUnanswered()) return 'no-route';
      // A reason with no meaning of its own (a queue purged, say: a packet left waiting for
      // ARP when the neighbour entry went away) says only that it did not arrive.
      if (kernelDrops.length > 0) return 'dropped';
      return target.proto === 'udp' ? 'delivered' : 'dropped';
    }
  }
}

const SEEN: Record<SendOutcome, (t: PathTarget) => string> = {
  answered: (t) => (t.proto === 'tcp' ? 'the connection was accepted' : t.proto === 'icmp' ? 'the echo reply came back' : 'an answer came back'),
  refused: (t) => (t.proto === 'tcp' ? 'a reset came back: nothing listens there' : 'an ICMP port unreachable came back: nothing is bound there'),
  unreachable: () => 'an ICMP unreachable (or the local routing table) said there is no way there',
  silent: () => `nothing came back within ${PROBE_TIMEOUT_MS} ms`,
};

/** Resolves as "silent" as soon as the trace reports a drop (polled; never resolves otherwise). */
function dropSeen(session: NftTraceSession): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (session.drop()) {
        clearInterval(timer);
        resolve('silent');
      }
    }, 20);
    timer.unref();
    setTimeout(() => clearInterval(timer), PROBE_TIMEOUT_MS + 100).unref();
  });
}

/** The decisions about the connection's first packet (the trace marks them all). */
function firstPacket(events: readonly TraceEvent[]): TraceEvent[] {
  return events.filter((e) => e.packet === 0);
}

/** A rule's text as the ruleset holds it, by handle; a placeholder if it went meanwhile. */
function ruleText(ruleset: NftRuleset | undefined, table: string, chain: string, handle: number): string {
  const rule = ruleset?.tables.find((t) => t.id === table)?.chains.get(chain)?.rules.find((r) => r.handle === handle);
  return rule?.text ?? `unknown rule handle ${handle}`;
}

function ruleOf(table: string, chain: string, rule: { readonly handle: number; readonly text: string }, facts: PathFacts): TraceRule {
  const text = withoutCounts(rule.text);
  return { table, chain, handle: rule.handle, text, why: facts.reasonFor({ table, chain, handle: rule.handle, text }) };
}

/**
 * Resolves as "silent" once ARP has gone unanswered for a while (polled; never resolves
 * otherwise): on one host's segments an answer takes well under a millisecond, so an
 * entry still INCOMPLETE after ARP_PATIENCE_MS means nobody holds the address.
 */
function arpStuck(unanswered: () => Promise<boolean>): Promise<SendOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = async (): Promise<void> => {
      if (Date.now() - started > PROBE_TIMEOUT_MS) return;
      if (Date.now() - started >= ARP_PATIENCE_MS && (await unanswered())) return resolve('silent');
      setTimeout(() => void poll(), 50).unref();
    };
    setTimeout(() => void poll(), ARP_PATIENCE_MS).unref();
  });
}

const ARP_PATIENCE_MS = 150;

let last: Promise<unknown> = Promise.resolve();

/** Probes share one trace table: they run one at a time. */
function oneAtATime<T>(task: () => Promise<T>): Promise<T> {
  const run = last.then(task, task);
  last = run.catch(() => undefined);
  return run;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
