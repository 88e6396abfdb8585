import { BerthError } from '../common/errors.js';
import { EMPTY_RESOLV_CONF, type ResolvConf } from '../dns/resolvconf.js';
import type { PublishedPort } from './ports.js';
import type { PortMapping } from './portspec.js';

/**
 * The records the engine persists. They are the source of truth for what berth owns;
 * the kernel is made to match them (engine/reconcile.ts).
 */
interface NetworkRecordBase {
  readonly id: string;
  readonly name: string;
  readonly created: string; // RFC 3339
  readonly internal: boolean;
  readonly attachable: boolean;
  /** Driver options as given (`-o`), Docker's Options. */
  readonly options: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

/** A network of the bridge driver: the default `bridge` or one made by `network create`. */
export interface BridgeNetworkRecord extends NetworkRecordBase {
  readonly driver: 'bridge';
  readonly bridge: string;
  readonly subnet: string; // CIDR
  readonly gateway: string;
  /** Where dynamic addresses come from (`--ip-range`); the whole subnet when absent. */
  readonly ipRange?: string;
  /** Addresses never handed out (`--aux-address name=ip`). */
  readonly auxAddresses: Readonly<Record<string, string>>;
  /** Whether the subnet was given by the user: Docker accepts a static `--ip` only then. */
  readonly userSubnet: boolean;
  readonly mtu?: number;
}

/**
 * The built-in `host` and `none` networks: no objects of their own. A container "on" them
 * uses the host's network stack, or a namespace with only lo. Docker names none's driver "null".
 */
export interface NullNetworkRecord extends NetworkRecordBase {
  readonly driver: 'host' | 'null';
}

export type NetworkRecord = BridgeNetworkRecord | NullNetworkRecord;

export function isBridgeNetwork(n: NetworkRecord): n is BridgeNetworkRecord {
  return n.driver === 'bridge';
}

/** The names Docker reserves: these networks always exist and cannot be removed. */
export const BUILTIN_NETWORKS = ['bridge', 'host', 'none'] as const;

/** The default bridge network's name. */
export const DEFAULT_NETWORK = 'bridge';

/**
 * A bridge network made by `network create`. Only these resolve container names and take
 * static addresses and aliases; the default bridge does neither, as in Docker.
 */
export function isUserDefinedBridge(n: NetworkRecord | undefined): n is BridgeNetworkRecord {
  return n !== undefined && isBridgeNetwork(n) && n.name !== DEFAULT_NETWORK;
}

export interface EndpointRecord {
  readonly id: string;
  readonly networkId: string;
  readonly ifname: string;
  readonly hostIfname: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly mac: string;
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
  /** Docker's HostConfig.NetworkMode: "bridge", a network name, "host", "none" or "container:<id>". */
  readonly networkMode: string;
  /**
   * The network namespace (under /run/netns) the container's processes join: its own
   * berth-<id>, another container's for container: mode, "" for the host's own.
   */
  readonly netns: string;
  /** The networks it is configured for, in attach order (bridge networks only). */
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
  if (v.driver === 'host' || v.driver === 'null') return { attachable: false, ...v } as unknown as NullNetworkRecord;
  if (v.driver !== 'bridge' || !hasStrings(v, ['bridge', 'subnet', 'gateway'])) fail('network', v);
  // Records written before user-defined networks existed lack the newer fields.
  return { attachable: false, auxAddresses: {}, userSubnet: false, ...v } as unknown as BridgeNetworkRecord;
}

export function parseContainerRecord(v: unknown): ContainerRecord {
  if (
    !isObject(v) ||
    !hasStrings(v, ['id', 'name', 'created', 'hostname', 'networkMode', 'netns']) ||
    !Array.isArray(v.command) ||
    !Array.isArray(v.env) ||
    !Array.isArray(v.endpoints) ||
    !isObject(v.state) ||
    !hasStrings(v.state, ['status', 'startTime', 'startedAt', 'finishedAt'])
  ) {
    fail('container', v);
  }
  const endpoints = (v.endpoints as unknown[]).map((ep, index) => {
    if (!isObject(ep) || !hasStrings(ep, ['id', 'networkId', 'ifname', 'hostIfname', 'address', 'mac', 'gateway'])) fail('endpoint', ep);
    return { gatewayEndpoint: index === 0, ...ep } as unknown as EndpointRecord;
  });
  // Records written before ports, user-defined networks, DNS settings and labels existed lack them.
  const networks = endpoints.map((e): NetworkAttachment => ({ networkId: e.networkId, aliases: [] }));
  const dnsDefaults = { dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: false, labels: {} };
  return { portMappings: [], ports: [], networks, ...dnsDefaults, ...(v as object), endpoints } as unknown as ContainerRecord;
}
