import { mkdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, MissingFeatureError } from '../common/errors.js';
import { PROBE_COMM } from './drop-reasons.js';
import { NETNS_DIR } from './netns-dir.js';
import { runTool } from './spawn.js';

/**
 * What `berth trace` asks the kernel about one path, and the real packet `--probe` sends.
 * A namespace is named as under /run/netns; undefined means the daemon's own (the host's).
 * Nothing here changes the kernel but the neighbour entries a probe's packet creates.
 */

export type Protocol = 'tcp' | 'udp' | 'icmp';

/** `ip route get`: the interface and next hop the namespace would use, or why it has none. */
export type RouteAnswer =
  | { readonly ok: true; readonly dev: string; readonly gateway?: string; readonly source?: string; readonly local: boolean }
  | { readonly ok: false; readonly reason: string };

export async function routeGet(netns: string | undefined, address: string): Promise<RouteAnswer> {
  const result = await runTool('ip', [...(netns ? ['-n', netns] : []), '-j', 'route', 'get', address]);
  if (result.code !== 0) return { ok: false, reason: result.stderr.trim().replace(/^RTNETLINK answers: /, '') || 'no route' };
  const [route] = JSON.parse(result.stdout) as { dev?: string; gateway?: string; prefsrc?: string; type?: string }[];
  if (!route?.dev) return { ok: false, reason: 'no route' };
  return { ok: true, dev: route.dev, ...(route.gateway ? { gateway: route.gateway } : {}), ...(route.prefsrc ? { source: route.prefsrc } : {}), local: route.type === 'local' };
}

/**
 * Whether a socket of the namespace `pid` lives in listens on `port` (TCP) or is bound to
 * it (UDP), on `address` or on every address: /proc/PID/net/tcp and udp, as `ss -ln` reads,
 * and tcp6/udp6, whose wildcard sockets take IPv4 too (Node's default listen). `pid` "self"
 * is the daemon's own namespace.
 */
export async function listens(pid: number | 'self', proto: 'tcp' | 'udp', address: string, port: number): Promise<boolean> {
  const read = (file: string) => readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
  const table = (await read(proto)) + (await read(`${proto}6`));
  const v4 = hexAddress(address);
  // IPv6 wildcard, and the IPv4-mapped form of the address (::ffff:a.b.c.d).
  const wanted = [hexAddress('0.0.0.0'), v4, '0'.repeat(32), `0000000000000000FFFF0000${v4}`];
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  // TCP_LISTEN is state 0A; an unconnected bound UDP socket is state 07 (TCP_CLOSE).
  const state = proto === 'tcp' ? '0A' : '07';
  return table
    .split('\n')
    .slice(1)
    .some((line) => {
      const [, local, , st] = line.trim().split(/\s+/);
      if (!local || st !== state) return false;
      const [addr, p] = local.split(':');
      return p === portHex && wanted.includes(addr!);
    });
}

/** /proc/net's form of an IPv4 address: four bytes in host (little-endian) order, hex. */
function hexAddress(address: string): string {
  return address
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

/** What happened to a probe's packet, as its sender saw it. */
export type SendOutcome = 'answered' | 'refused' | 'unreachable' | 'silent';

/**
 * Sends one real packet from the namespace: a TCP connect (bash's /dev/tcp), a UDP
 * datagram (then waits for an answer or an ICMP port-unreachable), or one ICMP echo. "silent" means nothing came back within
 * `timeoutMs`: dropped, or a UDP datagram delivered to a socket that does not answer.
 * Every sender runs under the task name PROBE_COMM, so the kernel's drop tracepoint can
 * tell the probe's packets from everyone else's (drop-reasons.ts).
 */
export async function sendProbe(netns: string | undefined, proto: Protocol, address: string, port: number | undefined, timeoutMs: number, senderDir: string): Promise<SendOutcome> {
  const inNamespace = (command: string, args: readonly string[]) => (netns ? runTool('nsenter', [`--net=${NETNS_DIR}/${netns}`, command, ...args]) : runTool(command, args));
  if (proto === 'icmp') {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const result = await inNamespace(await pingNamed(PROBE_COMM, senderDir), ['-n', '-c', '1', '-W', seconds, address]);
    if (result.code === 0) return 'answered';
    if (/unreachable|Unreachable/.test(result.stdout + result.stderr)) return 'unreachable';
    // ping counts what it sent when it could send; without that count, ping (or nsenter) failed, which says nothing about the path.
    if (!/packets transmitted/.test(result.stdout)) throw new BerthError('kernel', `the probe's ping could not send: ${(result.stderr || result.stdout).trim() || `exit code ${result.code}`}`, 'the probe needs a working ping (iputils-ping) in the source namespace');
    return 'silent';
  }
  if (proto === 'tcp') {
    // bash's /dev/tcp: a connect in a process that starts in ~3 ms (node takes ~40). bash
    // names itself first (a task may rename itself through /proc/self/comm).
    const seconds = (timeoutMs / 1000).toFixed(2);
    const result = await inNamespace('timeout', [seconds, 'bash', '-c', `printf ${PROBE_COMM} > /proc/self/comm; exec 3<>/dev/tcp/${address}/${port ?? 0}`]);
    if (result.code === 0) return 'answered';
    if (/Connection refused/.test(result.stderr)) return 'refused';
    return /No route to host|Network is unreachable/.test(result.stderr) ? 'unreachable' : 'silent';
  }
  const result = await inNamespace(process.execPath, ['-e', UDP_SENDER, PROBE_COMM, address, String(port ?? 0), String(timeoutMs)]);
  const outcome = result.stdout.trim();
  return outcome === 'answered' || outcome === 'refused' || outcome === 'unreachable' ? outcome : 'silent';
}

/** The UDP sender a probe runs in the namespace (a connected socket hears ICMP errors): prints answered, refused, unreachable or silent. */
const UDP_SENDER = `
const [name, address, port, timeout] = process.argv.slice(1);
process.title = name;
const done = (word) => { process.stdout.write(word); process.exit(0); };
const failed = (err) => done(err.code === 'ECONNREFUSED' ? 'refused' : /EHOSTUNREACH|ENETUNREACH/.test(err.code) ? 'unreachable' : 'silent');
setTimeout(() => done('silent'), Number(timeout));
const s = require('node:dgram').createSocket('udp4');
s.on('error', failed).on('message', () => done('answered'));
s.connect(Number(port), address, (err) => (err ? failed(err) : s.send('berth trace', (e) => e && failed(e))));
`;

/**
 * ping under another task name: the kernel names a task after the file it executes, and
 * ping cannot rename itself, so it runs through a symbolic link of that name in
 * `dir` (under the daemon's data root: it goes with berth's own files, whatever way the
 * daemon ends). Made once per daemon (making it per probe delayed the ping behind the
 * race's timers under load), and made again if it points elsewhere.
 */
const pingLinks = new Map<string, Promise<string>>();
export function pingNamed(name: string, dir: string): Promise<string> {
  const path = join(dir, name);
  let made = pingLinks.get(path);
  if (!made) {
    made = (async () => {
      const ping = await runTool('sh', ['-c', 'command -v ping']);
      if (ping.code !== 0) throw new MissingFeatureError('"ping" is not installed', 'install it: apt-get install iputils-ping');
      const target = ping.stdout.trim();
      if ((await readlink(path).catch(() => undefined)) !== target) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await rm(path, { force: true });
        await symlink(target, path);
      }
      return path;
    })();
    pingLinks.set(path, made);
    // A failure is not kept: the next probe tries again.
    made.catch(() => pingLinks.delete(path));
  }
  return made;
}

/** The neighbour entry of `address` in the namespace: FAILED or INCOMPLETE means nobody answered ARP. */
export async function neighbourUnanswered(netns: string | undefined, address: string): Promise<boolean> {
  const result = await runTool('ip', [...(netns ? ['-n', netns] : []), 'neigh', 'show', address]);
  return /\b(FAILED|INCOMPLETE)\b/.test(result.stdout);
}
