import { spawn, type ChildProcess } from 'node:child_process';
import { runTool } from './spawn.js';

/**
 * nftables' packet tracing for `berth trace --probe`: a table of its own marks the probe's
 * packets (`meta nftrace set 1`) before any other hook sees them, and `nft -a monitor trace`
 * reports every rule and policy they meet, with handles. The table lives only while the
 * probe runs, in the daemon's (the host's) namespace.
 */
export const TRACE_TABLE = 'berth_trace';

/** One decision the kernel reported for a traced packet. */
export interface TraceEvent {
  /** "ip berth", "inet filter", ... */
  readonly table: string;
  readonly chain: string;
  readonly verdict: string;
  /**
   * The rule that gave the verdict (absent for a chain's policy). Its text is absent when
   * the monitor did not know the rule: `nft monitor` reads the ruleset once, at its start,
   * and prints "unknown rule handle N" for rules in chains made after that (a network's
   * chains): the caller reads them from the ruleset.
   */
  readonly rule?: { readonly handle: number; readonly text?: string };
  /**
   * Which packet of the traced ones it is about, in order from 0. The kernel's trace id
   * changes between hooks, so packets are told apart by where they enter: a packet enters
   * each base chain once, so a base chain entered again is the next packet.
   */
  readonly packet: number;
}

/**
 * One `nft -a monitor trace` shared by successive probes (probes run one at a time): it
 * takes ~150 ms to subscribe, so it stays up until a few seconds pass without a probe.
 */
class TraceMonitor {
  private process: ChildProcess | undefined;
  private output = '';
  private idle: NodeJS.Timeout | undefined;
  private startedAt = 0;

  async ensure(): Promise<void> {
    clearTimeout(this.idle);
    // A monitor close to its end is replaced, so none ends in the middle of a probe.
    if (this.process && this.process.exitCode === null && Date.now() - this.startedAt < (MONITOR_LIFETIME_S - 10) * 1000) return;
    this.process?.kill();
    this.output = '';
    this.startedAt = Date.now();
    // Bounded by `timeout`: should the daemon die, the monitor does not outlive it by long.
    const monitor = spawn('timeout', [String(MONITOR_LIFETIME_S), 'nft', '-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    monitor.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    this.process = monitor;
    // The monitor subscribes asynchronously; a packet sent before that would go unseen.
    await new Promise((resolve) => setTimeout(resolve, 150));
  }

  /** Where a probe's output starts: probes run one at a time, so what came before is nobody's. */
  mark(): number {
    this.output = '';
    return 0;
  }

  since(mark: number): string {
    return this.output.slice(mark);
  }

  release(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), MONITOR_IDLE_MS);
    this.idle.unref();
  }

  stop(): void {
    clearTimeout(this.idle);
    this.process?.kill();
    this.process = undefined;
  }
}

const MONITOR_IDLE_MS = 3000;
const MONITOR_LIFETIME_S = 60;
const monitor = new TraceMonitor();

/** Ends the shared monitor now (the daemon stopping). */
export function stopTracing(): void {
  monitor.stop();
}

export class NftTraceSession {
  private constructor(private readonly from: number) {}

  /** Starts tracing packets that `match` (an nft expression, e.g. `ip saddr 10.0.0.2 ip daddr 10.0.0.3`). */
  static async start(match: string): Promise<NftTraceSession> {
    const hook = (name: string, type: string) => `\tchain ${name} {\n\t\ttype filter hook ${type} priority -350;\n\t\t${match} meta nftrace set 1\n\t}`;
    const table = `table inet ${TRACE_TABLE} {\n${hook('pre', 'prerouting')}\n${hook('out', 'output')}\n}`;
    await monitor.ensure();
    const added = await runTool('nft', ['-f', '-'], `add table inet ${TRACE_TABLE}\ndelete table inet ${TRACE_TABLE}\n${table}\n`);
    if (added.code !== 0) {
      monitor.release();
      throw new Error(`cannot add the trace table: ${added.stderr.trim()}`);
    }
    return new NftTraceSession(monitor.mark());
  }

  /** The decisions seen so far, but the trace table's own. */
  events(): TraceEvent[] {
    return parseTraceEvents(monitor.since(this.from));
  }

  /** The first drop the kernel reported, if any. */
  drop(): TraceEvent | undefined {
    return this.events().find((e) => e.verdict === 'drop');
  }

  async stop(): Promise<void> {
    await runTool('nft', ['delete', 'table', 'inet', TRACE_TABLE]);
    monitor.release();
  }
}

/** The decisions in `nft monitor trace` output, but the trace table's own, numbered by packet. */
export function parseTraceEvents(text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  const entered = new Set<string>();
  let packet = 0;
  for (const line of text.split('\n')) {
    const entry = /^trace id \S+ (\S+ \S+ \S+) packet: /.exec(line.trim());
    if (entry) {
      if (entered.has(entry[1]!)) {
        packet++;
        entered.clear();
      }
      entered.add(entry[1]!);
      continue;
    }
    const m = /^trace id \S+ (\S+ \S+) (\S+) (rule (.*) # handle (\d+) \(verdict (\w+)|unknown rule handle (\d+) \(verdict (\w+)|policy (\w+)|verdict (\w+))/.exec(line.trim());
    if (!m || m[1] === `inet ${TRACE_TABLE}`) continue;
    const [, table, chain, , ruleText, handle, ruleVerdict, unknownHandle, unknownVerdict, policy, verdict] = m;
    if (ruleText !== undefined) out.push({ table: table!, chain: chain!, verdict: ruleVerdict!, rule: { handle: Number(handle), text: ruleText }, packet });
    else if (unknownHandle !== undefined) out.push({ table: table!, chain: chain!, verdict: unknownVerdict!, rule: { handle: Number(unknownHandle) }, packet });
    else out.push({ table: table!, chain: chain!, verdict: policy ?? verdict!, packet });
  }
  return out;
}
