import { readFile } from 'node:fs/promises';
import { ConflictError, ExhaustedError, InvalidArgumentError } from '../common/errors.js';
import type { FirewallPort } from '../firewall/model.js';
import type { HostPorts } from '../kernel/host-ports.js';
import type { ContainerRecord } from './model.js';
import type { PortMapping, Protocol } from '../common/portspec.js';

/** A port as published: what `berth port` lists and the firewall maps. */
export interface PublishedPort {
  readonly protocol: Protocol;
  /** "" = every local address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

const ANY_ADDRESS = '0.0.0.0';

export function describeBinding(p: { hostIp: string; hostPort: number; protocol: Protocol }): string {
  return `${p.hostIp || ANY_ADDRESS}:${p.hostPort}/${p.protocol}`;
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
 * Published bindings by protocol and port, so checking a candidate costs one map lookup
 * whatever the number of ports (a linear scan made -p of 10,000 ports quadratic).
 */
class BindingIndex {
  private readonly byPort = new Map<string, (PublishedPort & { owner: string })[]>();

  constructor(bindings: readonly (PublishedPort & { owner: string })[]) {
    for (const b of bindings) this.add(b);
  }

  add(binding: PublishedPort & { owner: string }): void {
    const key = `${binding.protocol}/${binding.hostPort}`;
    const list = this.byPort.get(key);
    if (list) list.push(binding);
    else this.byPort.set(key, [binding]);
  }

  holderOf(candidate: { protocol: Protocol; hostIp: string; hostPort: number }): (PublishedPort & { owner: string }) | undefined {
    return this.byPort.get(`${candidate.protocol}/${candidate.hostPort}`)?.find((t) => overlaps(t, candidate));
  }
}

/**
 * Chooses a host port for every mapping: the one asked for, or the first free one of its
 * range (or of the ephemeral range). A port is free when no container published it on an
 * overlapping address and no host process holds it. All or nothing; O(ports asked for).
 */
export function allocateHostPorts(
  mappings: readonly PortMapping[],
  taken: readonly (PublishedPort & { owner: string })[],
  host: HostPorts,
  ephemeral: { first: number; last: number },
): PublishedPort[] {
  const chosen = new BindingIndex(taken);
  const result: PublishedPort[] = [];
  for (const m of mappings) {
    if (!host.isLocalAddress(m.hostIp)) {
      throw new InvalidArgumentError(
        `cannot publish ${describeBinding({ hostIp: m.hostIp, hostPort: m.hostPorts?.first ?? 0, protocol: m.protocol })}: ${m.hostIp} is not an address of this host`,
        'give one of the host\'s addresses (ip -4 addr), or none to publish on every address',
      );
    }
    const range = m.hostPorts ?? ephemeral;
    const fixed = range.first === range.last;
    let found: PublishedPort | undefined;
    for (let port = range.first; port <= range.last && !found; port++) {
      const candidate = { protocol: m.protocol, hostIp: m.hostIp, hostPort: port, containerPort: m.containerPort };
      const holder = chosen.holderOf(candidate);
      if (holder) {
        const by = holder.owner === '' ? 'twice in this request' : `by container ${holder.owner}`;
        if (fixed) throw new ConflictError(`cannot publish ${describeBinding(candidate)}: port is already allocated ${by}`, 'choose another host port, or let berth pick one: -p ' + String(m.containerPort));
        continue;
      }
      if (host.inUse(m.protocol, m.hostIp, port)) {
        if (fixed) throw new ConflictError(`cannot publish ${describeBinding(candidate)}: the port is already in use by a process on this host`, 'stop that process or choose another host port');
        continue;
      }
      found = candidate;
    }
    if (!found) throw new ExhaustedError(`no free host port for ${m.containerPort}/${m.protocol} in ${range.first}-${range.last}`);
    result.push(found);
    chosen.add({ ...found, owner: '' });
  }
  return result;
}
