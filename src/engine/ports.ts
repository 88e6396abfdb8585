import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { ConflictError, ExhaustedError } from '../common/errors.js';
import type { FirewallPort } from '../firewall/model.js';
import type { ContainerRecord } from './model.js';
import type { PortMapping, Protocol } from './portspec.js';

/** A port as published: what `berth port` lists and the firewall maps. */
export interface PublishedPort {
  readonly protocol: Protocol;
  /** "" = every local address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

const ANY = '0.0.0.0';

export function describeBinding(p: { hostIp: string; hostPort: number; protocol: Protocol }): string {
  return `${p.hostIp || ANY}:${p.hostPort}/${p.protocol}`;
}

function overlaps(a: PublishedPort, b: { protocol: Protocol; hostIp: string; hostPort: number }): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

/** The firewall's view of a running container's published ports (they lead to its gateway endpoint). */
export function firewallPortsOf(container: ContainerRecord): FirewallPort[] {
  const ip = container.endpoints.find((e) => e.gatewayEndpoint)?.address;
  if (ip === undefined || container.state.status !== 'running') return [];
  return container.ports.map((p) => ({ ...p, containerIp: ip }));
}

/** Whether a host process already holds the port (TCP listen / UDP bind on it fails). */
export type PortProbe = (protocol: Protocol, hostIp: string, port: number) => Promise<boolean>;

export const probeHostPort: PortProbe = (protocol, hostIp, port) =>
  new Promise((resolve) => {
    const host = hostIp || ANY;
    if (protocol === 'tcp') {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    } else if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
    } else {
      resolve(true); // Node cannot open SCTP sockets; the map entry is the only claim.
    }
  });

/** The range random host ports come from: the kernel's ephemeral range, as Docker uses. */
export async function ephemeralRange(): Promise<{ first: number; last: number }> {
  try {
    const [first, last] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (first && last && first <= last) return { first, last };
  } catch {
    // fall through to Docker's default
  }
  return { first: 49153, last: 65535 };
}

/**
 * Chooses a host port for every mapping: the one asked for, or the first free one of its
 * range (or of the ephemeral range). A port is free when no container published it on an
 * overlapping address and no host process holds it. All or nothing.
 */
export async function allocateHostPorts(
  mappings: readonly PortMapping[],
  taken: readonly (PublishedPort & { owner: string })[],
  probe: PortProbe,
  ephemeral: { first: number; last: number },
): Promise<PublishedPort[]> {
  const chosen: (PublishedPort & { owner: string })[] = [...taken];
  const result: PublishedPort[] = [];
  for (const m of mappings) {
    const range = m.hostPorts ?? ephemeral;
    const fixed = range.first === range.last;
    let found: PublishedPort | undefined;
    for (let port = range.first; port <= range.last && !found; port++) {
      const candidate = { protocol: m.protocol, hostIp: m.hostIp, hostPort: port, containerPort: m.containerPort };
      const holder = chosen.find((t) => overlaps(t, candidate));
      if (holder) {
        const by = holder.owner === '' ? 'twice in this request' : `by container ${holder.owner}`;
        if (fixed) throw new ConflictError(`cannot publish ${describeBinding(candidate)}: port is already allocated ${by}`, 'choose another host port, or let berth pick one: -p ' + String(m.containerPort));
        continue;
      }
      if (!(await probe(m.protocol, m.hostIp, port))) {
        if (fixed) throw new ConflictError(`cannot publish ${describeBinding(candidate)}: the port is already in use by a process on this host`, 'stop that process or choose another host port');
        continue;
      }
      found = candidate;
    }
    if (!found) throw new ExhaustedError(`no free host port for ${m.containerPort}/${m.protocol} in ${range.first}-${range.last}`);
    result.push(found);
    chosen.push({ ...found, owner: '' });
  }
  return result;
}
