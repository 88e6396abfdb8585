import { BerthError } from '../common/errors.js';
import { EMPTY_RESOLV_CONF, type ResolvConf } from '../dns/resolvconf.js';
import type { PublishedPort } from './ports.js';
import type { PortMapping } from '../common/portspec.js';
import type { DriverData, DriverScope, NetworkAddressing } from '../drivers/driver.js';

/**
 * The records the engine persists. They are the source of truth for what berth owns;
 * the kernel is made to match them (engine/reconcile.ts).
 */

/** A network's addresses as IPAM settled them, and whether the subnets were the user's. */
export interface IpamRecord {
  /**
   * At least one; several when `--subnet` was given several times (Docker's IPAM.Config).
   * Dynamic addresses come from the first with room; each endpoint's gateway is its subnet's.
   */
  readonly subnets: readonly NetworkAddressing[];
  /** Whether the subnets were given by the user: Docker accepts a static `--ip` only then. */
  readonly userSubnet: boolean;
}

/**
 * A network of any driver: generic fields, the addresses IPAM settled, and what its driver
 * keeps about it (driverData, which only the driver reads).
 */
export interface NetworkRecord {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly scope: DriverScope;
  readonly created: string; // RFC 3339
  readonly internal: boolean;
  readonly attachable: boolean;
  /** Driver options as given (`-o`), Docker's Options. */
  readonly options: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  /** Absent on the built-in host and none networks: they hold no addresses and no endpoints. */
  readonly ipam?: IpamRecord;
  readonly driverData: DriverData;
}

/** A network with addresses: every network but host and none. */
export interface AddressedNetwork extends NetworkRecord {
  readonly ipam: IpamRecord;
}

export function hasAddresses(n: NetworkRecord): n is AddressedNetwork {
  return n.ipam !== undefined;
}

/** The first of a network's subnets: the only one of a bridge network, the default bridge's. */
export function firstSubnet(n: AddressedNetwork): NetworkAddressing {
  return n.ipam.subnets[0]!;
}

/** Its subnets as a user reads them: "10.1.0.0/24, 10.2.0.0/24". */
export function subnetsText(n: AddressedNetwork): string {
  return n.ipam.subnets.map((s) => s.subnet).join(', ');
}

/** In a record stored before user-defined networks: "the network its mode names", until reconcile resolves it. */
export const MODE_NETWORK = '(the network of its mode)';

/** The names Docker reserves: these networks always exist and cannot be removed. */
export const BUILTIN_NETWORKS = ['bridge', 'host', 'none'] as const;

/** The default bridge network's name. */
export const DEFAULT_NETWORK = 'bridge';

/**
 * A network made by `network create` (of any driver with addresses). Only these resolve
 * container names and take static addresses and aliases; the default bridge does neither,
 * as in Docker.
 */
export function isUserDefined(n: NetworkRecord | undefined): n is AddressedNetwork {
  return n !== undefined && hasAddresses(n) && n.name !== DEFAULT_NETWORK;
}

/**
 * One endpoint of a container on a network: the address IPAM gave it and the names and MAC
 * its driver chose. Stored as a record of its own (engine/container-records.ts).
 */
export interface EndpointRecord {
  readonly id: string;
  readonly networkId: string;
  readonly ifname: string;
  /** Its link on the host side, if its driver has one (bridge: the veth's host end). */
  readonly hostIfname?: string;
  readonly address: string;
  readonly prefixLength: number;
  /** Undefined when the kernel chose it (ipvlan shares the parent's). */
  readonly mac?: string;
  /** The network's gateway, "" when it has none. */
  readonly gateway: string;
  /** Whether this endpoint carries the default route (and the published ports). */
  readonly gatewayEndpoint: boolean;
}

/**
 * A network a container is configured for: Docker's EndpointSettings as given to
 * `run --network/--ip/--alias/--mac-address` or `network connect`. Endpoints are made from
 * these when the sandbox exists.
 */
export interface NetworkAttachment {
  readonly networkId: string;
  readonly aliases: readonly string[];
  /** A static address (`--ip`). */
  readonly ipv4Address?: string;
  /** A static MAC (`--mac-address`). */
  readonly macAddress?: string;
}

/** An /etc/hosts line a container asked for (`--add-host name:ip`). */
export interface HostEntry {
  readonly name: string;
  readonly address: string;
}

/** A legacy link (`--link name:alias`): the target's address under these names in /etc/hosts. */
export interface ContainerLink {
  readonly containerId: string;
  readonly alias: string;
}

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerState {
  readonly status: ContainerStatus;
  readonly pid: number;
  /** /proc start time of `pid`, so a reused pid is never mistaken for the container. */
  readonly startTime: string;
  readonly exitCode: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly error: string;
}

export interface ContainerRecord {
  readonly id: string;
  readonly name: string;
  readonly created: string;
  readonly hostname: string;
  readonly command: readonly string[];
  readonly env: readonly string[];
  /** Docker's Config.Labels (`--label`), for filters and tools such as compose. */
  readonly labels: Readonly<Record<string, string>>;
  readonly autoRemove: boolean;
  /** `-i`: its stdin is a FIFO (stdin.fifo in its directory) that an attach writes to; absent in older records: false. */
  readonly openStdin?: boolean;
  /** `--user USER[:GROUP]`: who its command runs as; absent: root. */
  readonly user?: string;
  /** `--read-only`: its root filesystem (the host's) is read-only; absent: false. */
  readonly readOnly?: boolean;
  /** Docker's HostConfig.NetworkMode: "bridge", a network name, "host", "none" or "container:<id>". */
  readonly networkMode: string;
  /**
   * The network namespace (under /run/netns) the container's processes join: its own
   * berth-<id>, another container's for container: mode, "" for the host's own.
   */
  readonly netns: string;
  /** The networks it is configured for, in attach order (networks with addresses only). */
  readonly networks: readonly NetworkAttachment[];
  /** Its interfaces, while it has a sandbox (from first start to rm). */
  readonly endpoints: readonly EndpointRecord[];
  /** `--dns`, `--dns-search`, `--dns-opt`: each non-empty list replaces the host's. */
  readonly dns: ResolvConf;
  readonly extraHosts: readonly HostEntry[];
  readonly links: readonly ContainerLink[];
  /** Whether its resolv.conf points at the embedded resolver (decided at start). */
  readonly embeddedDns: boolean;
  /** What `-p` asked for (Docker's HostConfig.PortBindings). */
  readonly portMappings: readonly PortMapping[];
  /** What was published at start: host ports chosen. Empty while not running. */
  readonly ports: readonly PublishedPort[];
  readonly state: ContainerState;
}

export const NEVER = '0001-01-01T00:00:00Z'; // Docker's zero time in inspect output

export function initialState(): ContainerState {
  return { status: 'created', pid: 0, startTime: '', exitCode: 0, startedAt: NEVER, finishedAt: NEVER, error: '' };
}

// Store files are data entering the program: check the shape once, here.

function fail(what: string, value: unknown): never {
  throw new BerthError('internal', `store holds a malformed ${what}: ${JSON.stringify(value).slice(0, 200)}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasStrings(v: Record<string, unknown>, keys: readonly string[]): boolean {
  return keys.every((k) => typeof v[k] === 'string');
}

export function parseNetworkRecord(v: unknown): NetworkRecord {
  if (!isObject(v) || !hasStrings(v, ['id', 'name', 'driver', 'created']) || typeof v.internal !== 'boolean') fail('network', v);
  const common = { attachable: false, options: {}, labels: {}, scope: 'local', ...v };
  if (isObject(v.driverData)) {
    if (v.ipam === undefined) return common as unknown as NetworkRecord;
    if (!isObject(v.ipam)) fail('network', v);
    // Records of part 6 held one subnet's fields in ipam itself.
    const { userSubnet, ...single } = v.ipam;
    const subnets: unknown = Array.isArray(v.ipam.subnets) ? v.ipam.subnets : [single];
    if (!Array.isArray(subnets) || subnets.length === 0 || !subnets.every((a) => isObject(a) && hasStrings(a, ['subnet']) && isObject(a.auxAddresses))) fail('network', v);
    return { ...common, ipam: { subnets, userSubnet: userSubnet ?? false } } as unknown as NetworkRecord;
  }
  // Records written before the driver contract (part 6) kept the bridge's fields at the top.
  if (v.driver === 'host' || v.driver === 'null') return { ...common, driverData: {} } as unknown as NetworkRecord;
  if (v.driver !== 'bridge' || !hasStrings(v, ['bridge', 'subnet', 'gateway'])) fail('network', v);
  const { bridge, subnet, gateway, ipRange, auxAddresses, userSubnet, mtu, ...rest } = common as Record<string, unknown>;
  return {
    ...rest,
    ipam: { subnets: [{ subnet, gateway, ...(ipRange !== undefined ? { ipRange } : {}), auxAddresses: auxAddresses ?? {} }], userSubnet: userSubnet ?? false },
    driverData: typeof mtu === 'number' ? { bridge, mtu } : { bridge },
  } as unknown as NetworkRecord;
}

/** An endpoint's own record (collection `endpoints`): the endpoint and the container it belongs to. */
export function parseEndpointRecord(v: unknown): EndpointRecord & { readonly containerId: string } {
  if (!isObject(v) || !hasStrings(v, ['containerId'])) fail('endpoint', v);
  return { ...checkedEndpoint(v, false), containerId: v.containerId as string };
}

function checkedEndpoint(v: unknown, gatewayByDefault: boolean): EndpointRecord {
  if (!isObject(v) || !hasStrings(v, ['id', 'networkId', 'ifname', 'address', 'gateway'])) fail('endpoint', v);
  // Endpoints written before the default route could move lacked gatewayEndpoint: the first had it.
  const endpoint: Record<string, unknown> = { gatewayEndpoint: gatewayByDefault, ...v };
  delete endpoint.containerId;
  return endpoint as unknown as EndpointRecord;
}

/**
 * A container's record, with its endpoints from their own records (`endpointIds`, in
 * order); records written before endpoints had their own hold them inline (`endpoints`).
 */
export function parseContainerRecord(v: unknown, storedEndpoints: ReadonlyMap<string, EndpointRecord & { readonly containerId: string }>): ContainerRecord {
  if (
    !isObject(v) ||
    !hasStrings(v, ['id', 'name', 'created', 'hostname', 'networkMode', 'netns']) ||
    !Array.isArray(v.command) ||
    !Array.isArray(v.env) ||
    !(Array.isArray(v.endpoints) || Array.isArray(v.endpointIds)) ||
    !isObject(v.state) ||
    !hasStrings(v.state, ['status', 'startTime', 'startedAt', 'finishedAt'])
  ) {
    fail('container', v);
  }
  const endpoints = Array.isArray(v.endpointIds)
    ? (v.endpointIds as unknown[]).map((id) => {
        const stored = typeof id === 'string' ? storedEndpoints.get(id) : undefined;
        // Endpoints are written before the container that lists them: one missing was removed by hand.
        if (!stored || stored.containerId !== v.id) fail(`container (its endpoint ${String(id)} has no record)`, v);
        const { containerId: _owner, ...endpoint } = stored;
        return endpoint;
      })
    : (v.endpoints as unknown[]).map((ep, index) => checkedEndpoint(ep, index === 0));
  const { endpointIds: _ids, ...rest } = v;
  // Records written before ports, user-defined networks, DNS settings and labels existed
  // lack them. Such a record's networks are its endpoints' or, for one that never started,
  // the network its mode names (resolved by reconcile, which knows the networks).
  const networks = endpoints.length > 0 ? endpoints.map((e): NetworkAttachment => ({ networkId: e.networkId, aliases: [] })) : [{ networkId: MODE_NETWORK, aliases: [] }];
  const dnsDefaults = { dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: false, labels: {} };
  return { portMappings: [], ports: [], networks, ...dnsDefaults, ...rest, endpoints } as unknown as ContainerRecord;
}
