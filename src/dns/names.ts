/**
 * The names the embedded resolver answers for, as plain maps (network → name → addresses,
 * address → names), with the scoping rule in one place: a container sees the names of
 * containers that share a user-defined network with it, on that network only. Pure: the
 * engine builds it from its tables, the resolver asks it; records follow the tables at once.
 */
export interface DnsEndpoint {
  readonly containerId: string;
  readonly containerName: string;
  readonly networkId: string;
  readonly networkName: string;
  readonly address: string;
  /** Network-scoped aliases (`--network-alias`, `network connect --alias`). */
  readonly aliases: readonly string[];
}

export interface NameIndex {
  /** networkId → lower-case name → addresses. */
  readonly byNetwork: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  /** networkId → its endpoints, for id-prefix queries longer than the short id. */
  readonly endpointsByNetwork: ReadonlyMap<string, readonly DnsEndpoint[]>;
  /** address → the endpoints holding it (one per network, in practice). */
  readonly byAddress: ReadonlyMap<string, readonly DnsEndpoint[]>;
  /** lower-case network name → network id. */
  readonly networkIds: ReadonlyMap<string, string>;
  /** Lower-case names of every user-defined network, with or without containers: `*.network` is berth's. */
  readonly networkNames: ReadonlySet<string>;
  /** Every name berth knows on any network: never forwarded upstream. */
  readonly allNames: ReadonlySet<string>;
}

export type NameAnswer =
  | { readonly kind: 'local'; readonly addresses: readonly string[] }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'forward' };

export type PtrAnswer = { readonly kind: 'local'; readonly names: readonly string[] } | { readonly kind: 'nxdomain' } | { readonly kind: 'forward' };

const SHORT_ID = 12;

function namesOf(ep: DnsEndpoint): string[] {
  return [ep.containerName, ...ep.aliases, ep.containerId.slice(0, SHORT_ID)].map((n) => n.toLowerCase());
}

export function buildNameIndex(endpoints: readonly DnsEndpoint[], networkNames: readonly string[] = []): NameIndex {
  const byNetwork = new Map<string, Map<string, string[]>>();
  const endpointsByNetwork = new Map<string, DnsEndpoint[]>();
  const byAddress = new Map<string, DnsEndpoint[]>();
  const networkIds = new Map<string, string>();
  const allNames = new Set<string>();
  for (const ep of endpoints) {
    const names = byNetwork.get(ep.networkId) ?? new Map<string, string[]>();
    byNetwork.set(ep.networkId, names);
    for (const name of namesOf(ep)) {
      const addresses = names.get(name) ?? [];
      if (!addresses.includes(ep.address)) addresses.push(ep.address);
      names.set(name, addresses);
      allNames.add(name);
    }
    endpointsByNetwork.set(ep.networkId, [...(endpointsByNetwork.get(ep.networkId) ?? []), ep]);
    byAddress.set(ep.address, [...(byAddress.get(ep.address) ?? []), ep]);
    networkIds.set(ep.networkName.toLowerCase(), ep.networkId);
  }
  return { byNetwork, endpointsByNetwork, byAddress, networkIds, allNames, networkNames: new Set([...networkNames.map((n) => n.toLowerCase()), ...networkIds.keys()]) };
}

/**
 * A query for `qname` from a container on `querierNetworks`. Names berth knows only on
 * other networks, and names under any network's name, get NXDOMAIN here rather than going
 * upstream: container names must not leak to outside resolvers. Accepted forms: name, alias, id prefix (12 hex or longer),
 * and `name.network` for a network the querier is on.
 */
export function resolveName(index: NameIndex, querierNetworks: readonly string[], qname: string): NameAnswer {
  const name = qname.toLowerCase().replace(/\.$/, '');
  const found = new Set<string>();
  for (const networkId of querierNetworks) for (const a of lookupIn(index, networkId, name)) found.add(a);
  const dot = name.lastIndexOf('.');
  if (found.size === 0 && dot > 0) {
    const networkId = index.networkIds.get(name.slice(dot + 1));
    if (networkId !== undefined && querierNetworks.includes(networkId)) for (const a of lookupIn(index, networkId, name.slice(0, dot))) found.add(a);
  }
  if (found.size > 0) return { kind: 'local', addresses: [...found] };
  // Names berth owns never leave the host: a container name or alias on any network, and
  // anything under a network's name (`a1.neta` asked from outside neta).
  const owned = index.allNames.has(name) || (dot > 0 && index.networkNames.has(name.slice(dot + 1)));
  return owned ? { kind: 'nxdomain' } : { kind: 'forward' };
}

function lookupIn(index: NameIndex, networkId: string, name: string): readonly string[] {
  const direct = index.byNetwork.get(networkId)?.get(name);
  if (direct) return direct;
  if (name.length <= SHORT_ID || !/^[0-9a-f]{13,64}$/.test(name)) return [];
  return (index.endpointsByNetwork.get(networkId) ?? []).filter((ep) => ep.containerId.startsWith(name)).map((ep) => ep.address);
}

/** A reverse query for `address`: `name.network` for endpoints on the querier's networks. */
export function resolveAddress(index: NameIndex, querierNetworks: readonly string[], address: string): PtrAnswer {
  const holders = index.byAddress.get(address);
  if (!holders) return { kind: 'forward' };
  const visible = holders.filter((ep) => querierNetworks.includes(ep.networkId));
  if (visible.length === 0) return { kind: 'nxdomain' };
  return { kind: 'local', names: visible.map((ep) => `${ep.containerName}.${ep.networkName}`) };
}

/** "10.0.0.2" from "2.0.0.10.in-addr.arpa"; undefined for any other name. */
export function addressOfPtrName(qname: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa\.?$/i.exec(qname);
  return m ? [m[4], m[3], m[2], m[1]].join('.') : undefined;
}
