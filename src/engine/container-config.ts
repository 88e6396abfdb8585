import { hostname as hostHostname } from 'node:os';
import { ConflictError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { cidrContains, formatIpv4, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { ContainerTable } from './containers.js';
import { describeMode, parseNetworkMode, type NetworkMode } from './modes.js';
import type { ResolvConf } from '../dns/resolvconf.js';
import { checkedDnsSettings, parseExtraHosts, resolveLinks } from './dns-config.js';
import { hasAddresses, isUserDefined, subnetsText, type AddressedNetwork, type ContainerLink, type ContainerRecord, type HostEntry, type NetworkAttachment } from './model.js';
import type { Ipam } from '../ipam/ipam.js';
import type { NetworkTable } from './networks.js';
import { generateName, validateContainerName } from './names.js';
import type { PortMapping } from '../common/portspec.js';
import { checkAliasCount, checkPublishedPortCount } from './limits.js';

/** What `run`/`create` asks for one network: Docker's EndpointSettings (--ip, --alias, --mac-address). */
export interface EndpointRequest {
  readonly aliases: readonly string[];
  readonly ipv4Address?: string;
  readonly macAddress?: string;
}

export const NO_ENDPOINT_OPTIONS: EndpointRequest = { aliases: [] };

export interface CreateContainerRequest {
  readonly name?: string;
  readonly hostname?: string;
  readonly command: readonly string[];
  readonly env: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly networkMode: string;
  readonly endpoint: EndpointRequest;
  readonly autoRemove: boolean;
  /** `-i`: keep stdin open for an attach to write to. */
  readonly openStdin?: boolean;
  /** `--user USER[:GROUP]` (names or ids): who the command runs as; absent: root. */
  readonly user?: string;
  /** `--read-only`: the root filesystem is read-only in the container. */
  readonly readOnly?: boolean;
  readonly portMappings: readonly PortMapping[];
  /** `--dns`, `--dns-search`, `--dns-opt` as given. */
  readonly dns: ResolvConf;
  /** `--add-host` specs, `NAME:IP`. */
  readonly extraHosts: readonly string[];
  /** `--link` specs, `NAME[:ALIAS]`. */
  readonly links: readonly string[];
}

/** The network side of a new container, checked against what exists now. */
export interface ContainerNetworkConfig {
  readonly name: string;
  readonly hostname: string;
  /** HostConfig.NetworkMode as stored: container: mode names the full id. */
  readonly networkMode: string;
  readonly networks: readonly NetworkAttachment[];
  readonly portMappings: readonly PortMapping[];
  readonly dns: ResolvConf;
  readonly extraHosts: readonly HostEntry[];
  readonly links: readonly ContainerLink[];
  /** Things the user asked for that were dropped, as Docker's create Warnings. */
  readonly warnings: readonly string[];
}

/**
 * Checks a create request against the networks and containers that exist and turns it into
 * the container's network configuration, with Docker's rules and messages for the modes:
 * host and none take no ports, addresses or aliases; container: mode takes nothing of its
 * own (not even a hostname) and must name an existing container.
 */
export async function resolveContainerConfig(
  request: CreateContainerRequest,
  tables: { networks: NetworkTable; containers: ContainerTable; ipam: Ipam },
  id: string,
): Promise<ContainerNetworkConfig> {
  const name = containerName(request.name, tables.containers);
  // Docker's rule: the hostname is the id's first 12 hex digits unless one is given. A name
  // is no hostname: generated names and compose's (proj_web_1) hold underscores.
  const defaultHostname = id.slice(0, 12);
  const names = { dns: checkedDnsSettings(request.dns), extraHosts: parseExtraHosts(request.extraHosts), links: resolveLinks(request.links, tables.containers) };
  const mode = parseNetworkMode(request.networkMode);
  validateHostname(request.hostname);
  checkPublishedPortCount(request.portMappings.length);
  if (request.user !== undefined) validateUser(request.user);
  for (const entry of request.env) {
    if (!/^[^=]+=/.test(entry)) throw new InvalidArgumentError(`invalid environment variable "${quotePrefix(entry)}"`, 'use KEY=VALUE');
  }
  // execve(2) takes C strings: a NUL would fail only at start, so refuse it at create.
  for (const [field, values] of [['environment variable', request.env], ['command argument', request.command]] as const) {
    const bad = values.find((v) => v.includes('\0'));
    if (bad !== undefined) throw new InvalidArgumentError(`invalid ${field} "${quotePrefix(bad.replaceAll('\0', '\\0'))}": it holds a NUL character`, 'the kernel passes arguments and the environment as NUL-terminated strings');
  }
  if (mode.kind !== 'bridge') rejectEndpointOptions(request.endpoint, mode);
  if (mode.kind !== 'bridge' && names.links.length > 0) throw new InvalidArgumentError(`conflicting options: --link and ${describeMode(mode)}`, 'links need a bridge network');
  switch (mode.kind) {
    case 'bridge': {
      const network = attachableNetwork(tables.networks, mode.network);
      const attachment = await checkedAttachment(network, request.endpoint, tables.ipam);
      // An overlay container's ports are published on its gateway bridge endpoint.
      const publishes = tables.networks.publishesPorts(network) || tables.networks.exitsThroughGatewayBridge(network);
      const warnings = !publishes && request.portMappings.length > 0 ? [portsDiscardedWarning(network)] : [];
      return {
        name,
        hostname: request.hostname ?? defaultHostname,
        networkMode: network.name,
        networks: [attachment],
        portMappings: publishes ? request.portMappings : [],
        ...names,
        warnings,
      };
    }
    case 'host':
    case 'none': {
      const warnings = request.portMappings.length > 0 ? [`Published ports are discarded when using ${mode.kind} network mode`] : [];
      // Docker gives a host-mode container the host's name: it shares the host's network identity.
      const hostname = request.hostname ?? (mode.kind === 'host' ? hostHostname() : defaultHostname);
      return { name, hostname, networkMode: mode.kind, networks: [], portMappings: [], ...names, warnings };
    }
    case 'container': {
      if (request.hostname !== undefined) throw new InvalidArgumentError(`conflicting options: --hostname and ${describeMode(mode)}`, 'a container sharing another\'s network namespace has that container\'s hostname');
      if (request.portMappings.length > 0) throw new InvalidArgumentError(`conflicting options: port publishing and ${describeMode(mode)}`, 'publish the ports on the container whose namespace is shared');
      const own = [
        names.dns.nameservers.length + names.dns.search.length + names.dns.options.length > 0 ? '--dns/--dns-search/--dns-opt' : undefined,
        names.extraHosts.length > 0 ? '--add-host' : undefined,
      ].filter((f) => f !== undefined);
      if (own.length > 0) throw new InvalidArgumentError(`conflicting options: ${own.join(', ')} and ${describeMode(mode)}`, 'a container sharing another\'s network namespace uses that container\'s /etc/hosts and /etc/resolv.conf');
      const peer = tables.containers.find(mode.container);
      if (!peer) throw new InvalidArgumentError(`cannot join the network namespace of container "${quotePrefix(mode.container)}": no such container`, 'list containers with: berth ps -a');
      return { name, hostname: peer.hostname, networkMode: `container:${peer.id}`, networks: [], portMappings: [], ...names, warnings: [] };
    }
  }
}

function containerName(requested: string | undefined, containers: ContainerTable): string {
  let name = requested === undefined ? undefined : validateContainerName(requested);
  if (name !== undefined) {
    const holder = containers.nameTaken(name);
    if (holder) throw new ConflictError(`the container name "/${name}" is already in use by container "${holder.id}"`, 'remove that container (berth rm) or choose another name');
  }
  while (name === undefined || containers.nameTaken(name)) name = generateName();
  return name;
}

/**
 * The kernel takes any 1-64 bytes; Docker checks nothing but length. berth also refuses
 * what no resolver or /etc/hosts line can hold (spaces, control characters, "/").
 */
/** Docker's `--user`: a user and optionally a group, each a name or a numeric id. */
function validateUser(user: string): void {
  if (!/^([a-z_][a-z0-9_.-]{0,31}|\d{1,10})(:([a-z_][a-z0-9_.-]{0,31}|\d{1,10}))?$/.test(user)) {
    throw new InvalidArgumentError(`invalid --user "${quotePrefix(user)}"`, 'give USER[:GROUP], each a name or a numeric id, e.g. 1000:1000 or nobody');
  }
}

function validateHostname(hostname: string | undefined): void {
  if (hostname !== undefined && !/^[a-zA-Z0-9_]([a-zA-Z0-9_.-]{0,62})$/.test(hostname)) {
    throw new InvalidArgumentError(`invalid hostname "${quotePrefix(hostname)}"`, 'letters, digits, "_", "-" and "." only, starting with a letter, digit or "_", at most 63 characters');
  }
}

function rejectEndpointOptions(endpoint: EndpointRequest, mode: NetworkMode): void {
  const given = [
    endpoint.ipv4Address !== undefined ? '--ip' : undefined,
    endpoint.macAddress !== undefined ? '--mac-address' : undefined,
    endpoint.aliases.length > 0 ? '--network-alias' : undefined,
  ].filter((f) => f !== undefined);
  if (given.length > 0) throw new InvalidArgumentError(`conflicting options: ${given.join(', ')} and ${describeMode(mode)}`, 'these options apply to networks with addresses (bridge, macvlan, ipvlan) only');
}

/** Docker's create warning when `-p` cannot be honoured on the container's network. */
function portsDiscardedWarning(network: AddressedNetwork): string {
  return network.internal ? `Published ports are discarded on the internal network ${network.name}` : `Published ports are discarded on the ${network.driver} network ${network.name}: it has no port mapping`;
}

/** A network a container can have an endpoint on: any but the built-in host and none. */
export function attachableNetwork(networks: NetworkTable, ref: string): AddressedNetwork {
  const network = networks.get(ref);
  if (!hasAddresses(network)) {
    throw new InvalidArgumentError(`network ${network.name} cannot be attached to: it is the built-in ${network.name} network`, `use --network ${network.name} when running a container`);
  }
  return network;
}

const MAC = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

/**
 * The attachment to `network` with its options checked as Docker checks them: static
 * addresses and aliases need a user-defined network, a static address a user-given subnet
 * and a free address in it; a MAC must be a unicast Ethernet address.
 */
export async function checkedAttachment(network: AddressedNetwork, endpoint: EndpointRequest, ipam: Ipam): Promise<NetworkAttachment> {
  const isDefault = !isUserDefined(network);
  if (endpoint.aliases.length > 0 && isDefault) {
    throw new InvalidArgumentError('network-scoped aliases are supported only for containers on user-defined networks', 'create one with: berth network create NAME');
  }
  checkAliasCount(endpoint.aliases.length);
  for (const alias of endpoint.aliases) {
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,62})$/.test(alias)) throw new InvalidArgumentError(`invalid network alias "${quotePrefix(alias)}"`, 'letters, digits, "_", "-" and "." only, at most 63 characters');
  }
  if (endpoint.ipv4Address !== undefined) {
    if (isDefault) throw new InvalidArgumentError('a user-specified IP address is supported on user-defined networks only', 'create one with: berth network create --subnet CIDR NAME');
    if (!network.ipam.userSubnet) {
      throw new InvalidArgumentError(`a user-specified IP address needs a network with a user-configured subnet; ${network.name} got ${subnetsText(network)} from the pools`, 'create the network with --subnet');
    }
    const ip = parseIpv4(endpoint.ipv4Address);
    if (!network.ipam.subnets.some((s) => cidrContains(parseCidr(s.subnet), ip))) {
      throw new InvalidArgumentError(`address ${formatIpv4(ip)} is outside network ${network.name} (${subnetsText(network)})`, `choose an address in ${subnetsText(network)}`);
    }
    // IPAM's own checks (network, broadcast, gateway, aux, in use), now rather than at start.
    await ipam.checkAllocatable(network.id, formatIpv4(ip));
  }
  if (endpoint.macAddress !== undefined) {
    // The kernel refuses an all-zero address on a link: say so at create, not at start.
    if (!MAC.test(endpoint.macAddress) || (parseInt(endpoint.macAddress.slice(0, 2), 16) & 1) === 1 || /^(00:){5}00$/.test(endpoint.macAddress)) {
      throw new InvalidArgumentError(`invalid MAC address "${quotePrefix(endpoint.macAddress)}"`, 'a unicast, non-zero Ethernet address such as 02:42:ac:12:00:99');
    }
  }
  return {
    networkId: network.id,
    aliases: [...endpoint.aliases],
    ...(endpoint.ipv4Address !== undefined ? { ipv4Address: endpoint.ipv4Address } : {}),
    ...(endpoint.macAddress !== undefined ? { macAddress: endpoint.macAddress.toLowerCase() } : {}),
  };
}

/** Containers whose network mode is container:<id of `peer`>. */
export function containersSharing(containers: ContainerTable, peer: ContainerRecord): ContainerRecord[] {
  return containers.all().filter((c) => c.networkMode === `container:${peer.id}`);
}
