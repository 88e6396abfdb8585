import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';

/**
 * The host's side of publishing ports, read in bulk: which addresses are this host's and
 * which ports its processes hold, from /proc/net/{tcp,udp}{,6} of the daemon's namespace
 * (one read each for any number of ports, where probing with bind() costs a socket per
 * port: 10,000 ports took seconds and held up every other request).
 */
export type SocketProtocol = 'tcp' | 'udp' | 'sctp';

export interface HostPorts {
  /** Whether `ip` is an address of this host ("" means every address: always true). */
  isLocalAddress(ip: string): boolean;
  /** Whether a host process holds `port` (TCP: listening, UDP: bound) on an address overlapping `ip`. */
  inUse(protocol: SocketProtocol, ip: string, port: number): boolean;
}

const ANY = '';

/** A view in which every address is local and every port free (planning without a host: --dry-run offline). */
export const UNKNOWN_HOST_PORTS: HostPorts = { isLocalAddress: () => true, inUse: () => false };

export async function readHostPorts(): Promise<HostPorts> {
  const [tcp, tcp6, udp, udp6] = await Promise.all(['tcp', 'tcp6', 'udp', 'udp6'].map((f) => readFile(`/proc/net/${f}`, 'utf8').catch(() => '')));
  const held = new Map<string, Set<string>>(); // "tcp/8080" -> addresses ("" = any)
  const add = (protocol: string, entries: readonly { ip: string; port: number }[]) => {
    for (const { ip, port } of entries) {
      const key = `${protocol}/${port}`;
      let set = held.get(key);
      if (!set) held.set(key, (set = new Set()));
      set.add(ip);
    }
  };
  add('tcp', [...parseSockets(tcp!, true), ...parseSockets(tcp6!, true)]);
  add('udp', [...parseSockets(udp!, false), ...parseSockets(udp6!, false)]);
  const local = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address)));
  return {
    isLocalAddress: (ip) => ip === ANY || ip.startsWith('127.') || local.has(ip),
    inUse: (protocol, ip, port) => {
      const holders = held.get(`${protocol}/${port}`);
      if (!holders) return false;
      return ip === ANY || holders.has(ANY) || holders.has(ip);
    },
  };
}

/**
 * Sockets of one /proc/net table as IPv4 address and port ("" for a wildcard bind; an IPv6
 * wildcard holds the IPv4 port too unless v6only, which /proc does not say: counted as held).
 * TCP keeps listening sockets only (state 0A); every UDP socket is bound.
 */
export function parseSockets(table: string, listeningOnly: boolean): { ip: string; port: number }[] {
  const out: { ip: string; port: number }[] = [];
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local || (listeningOnly && fields[3] !== '0A')) continue;
    const [hexIp = '', hexPort = ''] = local.split(':');
    const ip = decodeAddress(hexIp);
    if (ip !== undefined) out.push({ ip, port: parseInt(hexPort, 16) });
  }
  return out;
}

/** /proc/net addresses are host-order hex words: "0100007F" is 127.0.0.1 on little-endian machines. */
function decodeAddress(hex: string): string | undefined {
  if (hex.length === 8) return hex === '00000000' ? ANY : v4FromWord(hex);
  if (hex.length !== 32) return undefined;
  if (/^0{32}$/.test(hex)) return ANY;
  // ::ffff:a.b.c.d is stored as words 0, 0, 0xffff0000 (host order), the IPv4 word.
  if (hex.slice(0, 16) === '0'.repeat(16) && hex.slice(16, 24).toUpperCase() === 'FFFF0000') return v4FromWord(hex.slice(24));
  return undefined; // a real IPv6 address holds no IPv4 port
}

function v4FromWord(word: string): string {
  const n = parseInt(word, 16);
  const bytes = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  return (new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? bytes : bytes.reverse()).join('.');
}
