import { readFileSync } from 'node:fs';
import { shortId } from '../common/ids.js';
import { RESOLVER_ADDRESS } from '../dns/resolver.js';
import { directResolvConf, embeddedResolvConf, hostModeResolvConf, overlay, parseResolvConf, type ResolvConf } from '../dns/resolvconf.js';
import type { ContainerRecord, HostEntry } from './model.js';

/**
 * The two files every container gets its own copy of, bind-mounted over /etc/hosts and
 * /etc/resolv.conf in its mount namespace (so no other container sees them).
 */

/** One /etc/hosts line: an address and its names. */
export interface HostsLine {
  readonly address: string;
  readonly names: readonly string[];
}

/**
 * /etc/hosts as Docker writes it: localhost and the IPv6 names, then `--add-host` entries,
 * then `--link` entries, then the container's own addresses under its hostname.
 */
export function hostsFileContent(hostname: string, addresses: readonly string[], extra: readonly HostsLine[] = []): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    ...extra.map((l) => `${l.address}\t${l.names.join(' ')}`),
    ...addresses.map((a) => `${a}\t${hostname}`),
  ];
  return lines.join('\n') + '\n';
}

/** The host's /etc/hosts with the container's `--add-host` entries appended (host mode). */
export function hostModeHostsFile(hostHosts: string, extra: readonly HostsLine[]): string {
  const base = hostHosts === '' || hostHosts.endsWith('\n') ? hostHosts : `${hostHosts}\n`;
  return base + extra.map((l) => `${l.address}\t${l.names.join(' ')}\n`).join('');
}

/** `--add-host` lines, with host-gateway standing for `gateway`. */
export function extraHostLines(entries: readonly HostEntry[], gateway: string): HostsLine[] {
  return entries.map((e) => ({ address: e.address === 'host-gateway' ? gateway : e.address, names: [e.name] }));
}

/** The line a `--link` adds: the target's address under the alias, its name and its short id. */
export function linkLine(target: Pick<ContainerRecord, 'id' | 'name'>, alias: string, address: string): HostsLine {
  return { address, names: [...new Set([alias, target.name, shortId(target.id)])] };
}

export type ResolverKind = 'embedded' | 'direct' | 'host';

/**
 * resolv.conf for a container: the host's settings under the daemon's `--dns`, under the
 * container's own `--dns`/`--dns-search`/`--dns-opt`; pointing at the embedded resolver
 * when the container is on a user-defined network.
 */
export function resolvConfFor(kind: ResolverKind, hostResolvConf: string, daemonDns: readonly string[], given: ResolvConf): string {
  const settings = overlay(overlay(parseResolvConf(hostResolvConf), { nameservers: daemonDns, search: [], options: [] }), given);
  switch (kind) {
    case 'embedded':
      return embeddedResolvConf(settings, RESOLVER_ADDRESS);
    case 'direct':
      return directResolvConf(settings);
    case 'host':
      return hostModeResolvConf(settings);
  }
}

/**
 * A host file the containers' files derive from; a host without it gives them an empty one,
 * as it has itself. Read synchronously: a few hundred bytes take ~20 µs that way, against
 * ~0.3 ms for an asynchronous read's round trips through the thread pool, on paths
 * (network create, container start) measured in milliseconds.
 */
export function readHostFile(path: string): Promise<string> {
  try {
    return Promise.resolve(readFileSync(path, 'utf8'));
  } catch {
    return Promise.resolve('');
  }
}
