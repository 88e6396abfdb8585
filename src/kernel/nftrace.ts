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
  /** The rule that gave the verdict (absent for a chain's policy). */
  readonly rule?: { readonly handle: number; readonly text: string };
}

export class NftTraceSession {
  private output = '';

  private constructor(private readonly monitor: ChildProcess) {
    monitor.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /** Starts tracing packets that `match` (an nft expression, e.g. `ip saddr 10.0.0.2 ip daddr 10.0.0.3`). */
  static async start(match: string): Promise<NftTraceSession> {
    const hook = (name: string, type: string) => `\tchain ${name} {\n\t\ttype filter hook ${type} priority -350;\n\t\t${match} meta nftrace set 1\n\t}`;
    const table = `table inet ${TRACE_TABLE} {\n${hook('pre', 'prerouting')}\n${hook('out', 'output')}\n}`;
    const added = await runTool('nft', ['-f', '-'], `add table inet ${TRACE_TABLE}\ndelete table inet ${TRACE_TABLE}\n${table}\n`);
    if (added.code !== 0) throw new Error(`cannot add the trace table: ${added.stderr.trim()}`);
    const monitor = spawn('nft', ['-a', 'monitor', 'trace'], { stdio: ['ignore', 'pipe', 'ignore'] });
    // The monitor subscribes asynchronously; a packet sent before that would go unseen.
    await new Promise((resolve) => setTimeout(resolve, 150));
    return new NftTraceSession(monitor);
  }

  /** The decisions seen so far, but the trace table's own. */
  events(): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (const line of this.output.split('\n')) {
      const m = /^trace id \S+ (\S+ \S+) (\S+) (rule (.*) # handle (\d+) \(verdict (\w+)|policy (\w+)|verdict (\w+))/.exec(line.trim());
      if (!m || m[1] === `inet ${TRACE_TABLE}`) continue;
      const [, table, chain, , ruleText, handle, ruleVerdict, policy, verdict] = m;
      if (ruleText !== undefined) out.push({ table: table!, chain: chain!, verdict: ruleVerdict!, rule: { handle: Number(handle), text: ruleText } });
      else out.push({ table: table!, chain: chain!, verdict: policy ?? verdict! });
    }
    return out;
  }

  /** The first drop the kernel reported, if any. */
  drop(): TraceEvent | undefined {
    return this.events().find((e) => e.verdict === 'drop');
  }

  async stop(): Promise<void> {
    this.monitor.kill();
    await runTool('nft', ['delete', 'table', 'inet', TRACE_TABLE]);
  }
}
