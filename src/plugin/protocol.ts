import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { PortMapping, Protocol } from '../common/portspec.js';
import type { ExternalNetworkRequest } from '../engine/external/networks.js';
import type { PublishedPort } from '../engine/ports.js';
import type { IpamConfigRequest } from '../engine/network-create.js';

/**
 * Docker's plugin protocol for network and IPAM drivers (libnetwork docs/remote.md and
 * docs/ipam.md): JSON bodies POSTed by dockerd, checked here once and handed inward typed.
 */

/** The option that names the berth network (dockerd tells a plugin no network name). */
export const NAME_OPTION = 'berth.name';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function body(v: unknown): Record<string, unknown> {
  // Some calls come without a body; dockerd sends `null` for an empty request struct.
  if (v === null || v === undefined) return {};
  if (!isObject(v)) throw new InvalidArgumentError('the request body must be a JSON object');
  return v;
}

function requiredString(v: Record<string, unknown>, field: string): string {
  const value = v[field];
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(`${field} must be a non-empty string`);
  return value;
}

function optionalString(v: Record<string, unknown>, field: string): string | undefined {
  const value = v[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new InvalidArgumentError(`${field} must be a string`);
  return value;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new InvalidArgumentError(`${field} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) {
    // dockerd's driver options are strings; a bare `-o key` arrives as "".
    if (typeof value !== 'string') throw new InvalidArgumentError(`${field}.${k} must be a string`);
    out[k] = value;
  }
  return out;
}

/** "10.1.0.1/24" → "10.1.0.1": libnetwork sends gateways and auxiliary addresses with their prefix. */
function withoutPrefix(cidr: string): string {
  return cidr.split('/')[0]!;
}

export function parseNetworkId(raw: unknown): string {
  return requiredString(body(raw), 'NetworkID');
}

export function parseEndpointId(raw: unknown): string {
  return requiredString(body(raw), 'EndpointID');
}

/** NetworkDriver.CreateNetwork: driver options from com.docker.network.generic, the pools from IPv4Data. */
export function parseCreateNetwork(raw: unknown, driver: string): ExternalNetworkRequest {
  const v = body(raw);
  const options = isObject(v.Options) ? v.Options : {};
  const generic = stringMap(options['com.docker.network.generic'], 'Options.com.docker.network.generic');
  const { [NAME_OPTION]: name, ...driverOptions } = generic;
  if (options['com.docker.network.enable_ipv6'] === true || (Array.isArray(v.IPv6Data) && v.IPv6Data.length > 0)) {
    throw new InvalidArgumentError('berth networks are IPv4 only', 'create the network without --ipv6');
  }
  const ipv4 = Array.isArray(v.IPv4Data) ? v.IPv4Data : [];
  const subnets: IpamConfigRequest[] = ipv4.map((d, i) => {
    if (!isObject(d)) throw new InvalidArgumentError(`IPv4Data[${i}] must be an object`);
    const aux = stringMap(d.AuxAddresses, `IPv4Data[${i}].AuxAddresses`);
    const gateway = optionalString(d, 'Gateway');
    return {
      subnet: requiredString(d, 'Pool'),
      ...(gateway !== undefined ? { gateway: withoutPrefix(gateway) } : {}),
      auxAddresses: Object.fromEntries(Object.entries(aux).map(([k, a]) => [k, withoutPrefix(a)])),
    };
  });
  if (name !== undefined && name === '') throw new InvalidArgumentError(`-o ${NAME_OPTION} needs a value`, `e.g. -o ${NAME_OPTION}=web`);
  return {
    externalId: requiredString(v, 'NetworkID'),
    driver,
    ...(name !== undefined ? { name } : {}),
    options: driverOptions,
    internal: options['com.docker.network.internal'] === true,
    subnets,
  };
}

export interface CreateEndpointRequest {
  readonly networkId: string;
  readonly endpointId: string;
  readonly address?: string;
  readonly mac?: string;
}

export function parseCreateEndpoint(raw: unknown): CreateEndpointRequest {
  const v = body(raw);
  const iface = isObject(v.Interface) ? v.Interface : {};
  if (optionalString(iface, 'AddressIPv6') !== undefined) throw new InvalidArgumentError('berth endpoints are IPv4 only');
  const address = optionalString(iface, 'Address');
  const mac = optionalString(iface, 'MacAddress');
  return { networkId: requiredString(v, 'NetworkID'), endpointId: requiredString(v, 'EndpointID'), ...(address ? { address } : {}), ...(mac ? { mac } : {}) };
}

export function parseJoin(raw: unknown): { endpointId: string; sandboxKey: string } {
  const v = body(raw);
  return { endpointId: requiredString(v, 'EndpointID'), sandboxKey: requiredString(v, 'SandboxKey') };
}

/** libnetwork's PortBinding protocol numbers. */
const PROTOCOLS: Readonly<Record<number, Protocol>> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const PROTOCOL_NUMBERS: Readonly<Record<Protocol, number>> = { tcp: 6, udp: 17, sctp: 132 };

/** ProgramExternalConnectivity's com.docker.network.portmap: what `docker run -p` asked for. */
export function parsePortMap(raw: unknown): { endpointId: string; mappings: PortMapping[] } {
  const v = body(raw);
  const options = isObject(v.Options) ? v.Options : {};
  const portmap = options['com.docker.network.portmap'];
  const list = Array.isArray(portmap) ? portmap : [];
  const mappings = list.map((p, i): PortMapping => {
    if (!isObject(p)) throw new InvalidArgumentError(`portmap[${i}] must be an object`);
    const protocol = PROTOCOLS[Number(p.Proto)];
    if (!protocol) throw new InvalidArgumentError(`portmap[${i}]: unknown protocol number ${String(p.Proto)}`, 'accepted: 6 (tcp), 17 (udp), 132 (sctp)');
    const port = (field: string) => {
      const n = Number(p[field] ?? 0);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`portmap[${i}].${field} must be a port number`);
      return n;
    };
    const hostIp = typeof p.HostIP === 'string' && p.HostIP !== '0.0.0.0' ? p.HostIP : '';
    const first = port('HostPort');
    const last = Math.max(first, port('HostPortEnd'));
    return { protocol, containerPort: port('Port'), hostIp, ...(first !== 0 ? { hostPorts: { first, last } } : {}) };
  });
  return { endpointId: requiredString(v, 'EndpointID'), mappings };
}

/** The ports as EndpointOperInfo reports them back: dockerd shows them in `docker ps` and `docker port`. */
export function portMapView(ports: readonly PublishedPort[]): unknown[] {
  return ports.map((p) => ({ Proto: PROTOCOL_NUMBERS[p.protocol], IP: '', Port: p.containerPort, HostIP: p.hostIp === '' ? '0.0.0.0' : p.hostIp, HostPort: p.hostPort, HostPortEnd: p.hostPort }));
}

export function parseRequestPool(raw: unknown): { pool?: string; subPool?: string; v6: boolean } {
  const v = body(raw);
  const pool = optionalString(v, 'Pool');
  const subPool = optionalString(v, 'SubPool');
  return { ...(pool ? { pool } : {}), ...(subPool ? { subPool } : {}), v6: v.V6 === true };
}

/** The gateway request carries this in its options (libnetwork's RequestAddressType). */
const GATEWAY_REQUEST = 'com.docker.network.gateway';

export function parseRequestAddress(raw: unknown): { poolId: string; address?: string; isGateway: boolean } {
  const v = body(raw);
  const address = optionalString(v, 'Address');
  const options = stringMap(v.Options, 'Options');
  return { poolId: requiredString(v, 'PoolID'), ...(address ? { address } : {}), isGateway: options.RequestAddressType === GATEWAY_REQUEST };
}

export function parseReleaseAddress(raw: unknown): { poolId: string; address: string } {
  const v = body(raw);
  return { poolId: requiredString(v, 'PoolID'), address: withoutPrefix(requiredString(v, 'Address')) };
}

export function parsePoolId(raw: unknown): string {
  const v = body(raw);
  const id = v.PoolID;
  if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`PoolID must be a non-empty string, not ${quotePrefix(JSON.stringify(id) ?? 'nothing')}`);
  return id;
}
