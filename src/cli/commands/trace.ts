import { boolFlag, parseArgs, usageError, type CommandInfo } from '../../common/args.js';
import type { ApiClient } from '../client.js';

const TRACE: CommandInfo = {
  name: 'trace',
  usage: `Usage: berth trace [OPTIONS] SRC DST[:PORT][/tcp|udp|icmp]

Where a connection from SRC to DST goes, and why: a verdict (delivered, dropped,
no-route, no-listener) on the first line, then one line per hop: the interfaces and
bridges it crosses, each NAT step with the translated address, and the netfilter rule
that decides, with its handle and why berth wrote it.

SRC is a container, host, or outside:ADDR (a host beyond the uplink); DST the same, or a
published port of the host (host:8080). With a port the protocol is tcp, without one icmp.

By default the answer is computed (the model: routes, berth's rules as the kernel holds
them, listeners; nothing is sent). --probe sends one real packet, traced by nftables.

Options:
      --probe   Send a real packet and report what happened to it (not from outside:ADDR)
      --json    Print the answer as JSON`,
};

interface TraceHop {
  at: string;
  what: string;
  rule?: { table: string; chain: string; handle: number; text: string; why: string };
}

interface TraceAnswer {
  verdict: string;
  method: string;
  src: string;
  dst: string;
  address: string;
  proto: string;
  port?: number;
  hops: TraceHop[];
  notes: string[];
  beyondHost?: string;
}

export async function traceCommand(client: ApiClient, argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(TRACE, argv, { probe: { value: false }, json: { value: false } });
  if (parsed.positionals.length !== 2) throw usageError(TRACE, '"berth trace" requires exactly 2 arguments: SRC and DST');
  const [src, dst] = parsed.positionals as [string, string];
  const query = new URLSearchParams({ src, dst, ...(boolFlag(parsed, 'probe') ? { probe: '1' } : {}) });
  const answer = (await client.call('GET', `/berth/trace?${query.toString()}`)) as TraceAnswer;
  if (boolFlag(parsed, 'json')) {
    console.log(JSON.stringify(answer, null, 2));
    return 0;
  }
  console.log(`verdict: ${answer.verdict}`);
  console.log(`# ${answer.src} -> ${answer.dst} (${answer.address}${answer.port === undefined ? '' : `:${answer.port}`}/${answer.proto}), by the ${answer.method}`);
  answer.hops.forEach((hop, i) => {
    console.log(`${String(i + 1).padStart(2)}. ${hop.at}: ${hop.what}`);
    if (hop.rule) console.log(`      rule #${hop.rule.handle} (${hop.rule.table} ${hop.rule.chain}): ${hop.rule.text}\n      why: ${hop.rule.why}`);
  });
  for (const note of answer.notes) console.log(`note: ${note}`);
  return 0;
}
