import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { runTool } from './spawn.js';

/**
 * The kernel's own account of the packets it frees unsent: the `skb:kfree_skb` tracepoint,
 * with its drop reason (Linux 5.17 and later) and the code location. `berth trace --probe`
 * reads it for drops outside netfilter, which `nft monitor trace` cannot see (no route, no
 * socket, a reverse-path check, a full queue).
 *
 * The tracepoint carries no addresses, so the probe's packets are told apart by the task
 * they are dropped in: the probe's sender runs under a name of this daemon's own
 * (PROBE_COMM), and a packet sent through veth pairs and the host's stack is handled in the
 * softirq its sender raised, in its own task. Drops in timers (an ARP that went unanswered)
 * are not seen this way; the neighbour tables answer for those. The events go to a tracing
 * instance of berth's own, so the host's main trace buffer is left as it was; the instance
 * lives for one probe.
 */
export interface KernelDrop {
  /** SKB_DROP_REASON_* without its prefix, e.g. "IP_INNOROUTES", "NO_SOCKET". */
  readonly reason: string;
  /** Where the kernel freed it, e.g. "ip_error+0x94/0x220". */
  readonly location: string;
}

/**
 * The task name the probe's senders run under, made from `random`: unique to this daemon
 * (15 characters at most: the kernel's limit). It ends in a letter: ping reads a name ending
 * in 4 or 6 as ping4 or ping6, and as "ping6" refuses every IPv4 address (CI once failed
 * every ICMP probe of a daemon whose random name ended in 6).
 */
export function probeTaskName(random: Buffer): string {
  return `bp-${random.toString('hex')}p`;
}

export const PROBE_COMM = probeTaskName(randomBytes(4));

const TRACEFS = '/sys/kernel/tracing';
/** skb->protocol of IPv4, as the tracepoint prints it. */
const ETH_P_IP = 0x0800;

/**
 * One tracing instance per probe: made before the packet is sent, removed once its trace
 * is read. Tracing instances are the kernel's, not the daemon's: one kept between probes
 * outlived daemons that were killed. The removal (~30 ms) is not waited for by the probe.
 */
class DropTracer {
  private instance: string | undefined;
  private removing: Promise<void> = Promise.resolve();

  /** Starts recording this daemon's probe drops; a string says why the kernel cannot. */
  async begin(): Promise<string | undefined> {
    const unavailable = await tracefsReady();
    if (unavailable) return unavailable;
    await this.removing;
    const dir = `${TRACEFS}/instances/berth-${PROBE_COMM}`;
    if (!existsSync(dir)) await mkdir(dir);
    this.instance = dir;
    try {
      await writeFile(`${dir}/events/skb/kfree_skb/filter`, `protocol == ${ETH_P_IP} && comm == "${PROBE_COMM}"`);
      await writeFile(`${dir}/events/skb/kfree_skb/enable`, '1');
    } catch (err) {
      this.remove();
      throw err;
    }
    return undefined;
  }

  /** Stops recording, returns what was dropped meanwhile, and removes the instance. */
  async end(): Promise<KernelDrop[]> {
    const dir = this.instance;
    if (!dir) return [];
    try {
      await writeFile(`${dir}/events/skb/kfree_skb/enable`, '0');
      return parseDrops(await readFile(`${dir}/trace`, 'utf8'));
    } finally {
      this.remove();
    }
  }

  /** Waits for the last instance to be gone (the daemon stopping). */
  async close(): Promise<void> {
    this.remove();
    await this.removing;
  }

  private remove(): void {
    const dir = this.instance;
    this.instance = undefined;
    if (dir) this.removing = this.removing.then(() => rmdir(dir).catch(() => undefined));
  }
}

const tracer = new DropTracer();

/** Starts recording drops of the probe's packets; resolves with why not, when the kernel cannot. */
export function beginDropWatch(): Promise<string | undefined> {
  return tracer.begin().catch((err: Error) => `the kernel's drop tracepoint could not be used: ${err.message}`);
}

export function endDropWatch(): Promise<KernelDrop[]> {
  return tracer.end().catch(() => []);
}

/** Waits until berth's tracing instance is removed (the daemon stopping). */
export function closeDropWatch(): Promise<void> {
  return tracer.close();
}

/** Lines of the instance's trace: `... kfree_skb: skbaddr=... protocol=2048 location=ip_error+0x94/0x220 reason: NOT_SPECIFIED`. */
export function parseDrops(trace: string): KernelDrop[] {
  const drops: KernelDrop[] = [];
  for (const line of trace.split('\n')) {
    const m = / kfree_skb: .*\blocation=(\S+) reason: (\w+)/.exec(line);
    if (m) drops.push({ location: m[1]!, reason: m[2]! });
  }
  return drops;
}

/**
 * The drops that can be the probe's own packet. The tracepoint filter keeps drops in the
 * probe sender's task, but a task that raises the network softirq also handles whatever
 * else waits in that CPU's backlog: CI once saw a TCP probe blamed on a UDP datagram's
 * NO_SOCKET (at __udp4_lib_rcv) that was some other packet's. A drop in another transport's
 * receive or send path (its function says which: tcp_v4_rcv, __udp4_lib_rcv, icmp_rcv) is
 * not the probe's; drops on the way (routing, neighbours, queues, netfilter) name none.
 */
export function dropsOfProbe(drops: readonly KernelDrop[], proto: 'tcp' | 'udp' | 'icmp'): KernelDrop[] {
  return drops.filter((d) => (transportOf(d.location) ?? proto) === proto);
}

/** The transport whose code a location is in, from its function's name, if it names one. */
function transportOf(location: string): 'tcp' | 'udp' | 'icmp' | undefined {
  const fn = location.replace(/^_+/, '');
  if (/^tcp/.test(fn)) return 'tcp';
  if (/^udp/.test(fn)) return 'udp';
  if (/^(icmp|ping)/.test(fn)) return 'icmp';
  return undefined;
}

/** tracefs mounted (mounting it where it is not) with the tracepoint; else why not. */
async function tracefsReady(): Promise<string | undefined> {
  if (!existsSync(`${TRACEFS}/instances`)) {
    const mounted = await runTool('mount', ['-t', 'tracefs', 'nodev', TRACEFS]);
    if (mounted.code !== 0) return `tracefs is not mounted at ${TRACEFS} and could not be: ${mounted.stderr.trim()}`;
  }
  if (!existsSync(`${TRACEFS}/events/skb/kfree_skb`)) return 'this kernel has no skb:kfree_skb tracepoint';
  const format = await readFile(`${TRACEFS}/events/skb/kfree_skb/format`, 'utf8');
  return format.includes('reason') ? undefined : 'this kernel predates drop reasons (Linux 5.17)';
}

/** What a drop means for a probe: the path ended for want of a route, of a socket, or was cut. */
export type DropMeaning = 'no-route' | 'no-listener' | 'dropped';

/** The drop reasons a probe's packet meets most, in words, with what they mean for the path. */
const MEANINGS: Record<string, readonly [DropMeaning, string]> = {
  IP_INNOROUTES: ['no-route', 'the host has no route for it'],
  IP_OUTNOROUTES: ['no-route', 'no route to send it by'],
  IP_INADDRERRORS: ['no-route', 'its destination is not one the host routes'],
  IP_INVALID_DEST: ['no-route', 'its destination is not one the host routes'],
  NEIGH_FAILED: ['no-route', 'nobody answered ARP for the next hop'],
  NEIGH_CREATEFAIL: ['no-route', 'no neighbour entry could be made for the next hop'],
  NEIGH_QUEUEFULL: ['no-route', 'too many packets waited for ARP for the next hop'],
  NO_SOCKET: ['no-listener', 'no socket is bound to its port'],
  IP_RPFILTER: ['dropped', 'the reverse-path filter (rp_filter): its source is not reached back by the interface it came in on'],
  IP_INVALID_SOURCE: ['dropped', 'its source address is not valid on the interface it came in on'],
  IP_LOCAL_SOURCE: ['dropped', "it came in from outside with one of the host's own addresses as its source"],
  OTHERHOST: ['dropped', "its MAC address is another host's"],
  QDISC_DROP: ['dropped', "the interface's queue discipline dropped it"],
  PKT_TOO_BIG: ['dropped', "it is larger than the path's MTU and may not be fragmented"],
  VXLAN_VNI_NOT_FOUND: ['dropped', 'no VXLAN link here holds its VNI'],
};

/** A drop in words, and what it means for the path (`known` false: a reason that says only that the packet was freed). */
export function meaningOf(drop: KernelDrop): { readonly meaning: DropMeaning; readonly known: boolean; readonly words: string } {
  const known = MEANINGS[drop.reason];
  if (known) return { meaning: known[0], known: true, words: known[1] };
  // Routes of type blackhole, unreachable and prohibit end in ip_error, which gives no reason.
  if (drop.location.startsWith('ip_error+')) return { meaning: 'no-route', known: true, words: 'its route is a blackhole (or unreachable, prohibit): the host routes it nowhere' };
  return { meaning: 'dropped', known: false, words: `the kernel's reason ${drop.reason}` };
}
