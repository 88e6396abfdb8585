import { BerthError } from '../common/errors.js';
import type { PublishedPort } from './ports.js';
import type { PortMapping } from './portspec.js';

/**
 * The records the engine persists. They are the source of truth for what berth owns;
 * the kernel is made to match them (engine/reconcile.ts).
 */
export interface NetworkRecord {
  readonly id: string;
  readonly name: string;
  readonly driver: 'bridge';
  readonly created: string; // RFC 3339
  readonly bridge: string;
  readonly subnet: string; // CIDR
  readonly gateway: string;
  readonly mtu?: number;
  readonly internal: boolean;
  readonly options: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
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
  readonly autoRemove: boolean;
  readonly networkMode: string;
  /** Name of the sandbox's network namespace under /run/netns. */
  readonly netns: string;
  readonly endpoints: readonly EndpointRecord[];
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
  if (!isObject(v) || !hasStrings(v, ['id', 'name', 'driver', 'created', 'bridge', 'subnet', 'gateway']) || v.driver !== 'bridge' || typeof v.internal !== 'boolean') {
    fail('network', v);
  }
  return v as unknown as NetworkRecord;
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
  for (const ep of v.endpoints as unknown[]) {
    if (!isObject(ep) || !hasStrings(ep, ['id', 'networkId', 'ifname', 'hostIfname', 'address', 'mac', 'gateway'])) fail('endpoint', ep);
  }
  // Records written before ports existed have none.
  return { portMappings: [], ports: [], ...(v as object) } as unknown as ContainerRecord;
}
