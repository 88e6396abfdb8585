import { createHash } from 'node:crypto';
import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { CreateContainerRequest, EndpointRequest } from '../engine/container-config.js';
import type { CreateNetworkRequest, IpamConfigRequest } from '../engine/network-create.js';
import type { ExecConfig } from '../engine/execs.js';
import { parsePortBindings } from '../common/portspec.js';

/**
 * Validation of request bodies: the HTTP body is data entering the program, so it is
 * checked here once and handed inward typed. Field names follow Docker's
 * ContainerCreateRequest (Cmd, Env, Hostname, HostConfig.NetworkMode, HostConfig.AutoRemove).
 */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringArray(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new InvalidArgumentError(`invalid request: ${field} must be an array of strings`);
  }
  return v;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`invalid request: ${field} must be a string`);
  return v;
}

/**
 * berth's own containers run host commands, not images: "host" (or "berth/host") is the
 * one image name it takes, so `docker run host ip addr` works from a stock client.
 */
export const HOST_IMAGE = 'host';
const HOST_IMAGE_NAMES = new Set(['', HOST_IMAGE, `${HOST_IMAGE}:latest`, `berth/${HOST_IMAGE}`, `berth/${HOST_IMAGE}:latest`]);

/** The pseudo-image's id, as inspect's Image field carries an id (SDKs split it at the colon). */
export const HOST_IMAGE_ID = `sha256:${createHash('sha256').update('berth host commands').digest('hex')}`;

/** Whether a name or id refers to the pseudo-image. */
export function isHostImage(ref: string): boolean {
  return HOST_IMAGE_NAMES.has(ref) || ref === HOST_IMAGE_ID || ref === HOST_IMAGE_ID.slice('sha256:'.length);
}

export function imageRefusal(image: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `berth runs host commands, not images: image "${quotePrefix(image)}" cannot be run here`,
    `use the image name "${HOST_IMAGE}" for a host command (docker run ${HOST_IMAGE} ip addr), or run images with dockerd and berth as its network plugin (berth daemon --docker-plugins /run/docker/plugins; docker network create -d berth ...)`,
  );
}

export function parseCreateContainer(body: unknown, name: string | undefined): CreateContainerRequest {
  if (!isObject(body)) throw new InvalidArgumentError('invalid request: the body must be a JSON object');
  const image = optionalString(body.Image, 'Image') ?? '';
  if (!HOST_IMAGE_NAMES.has(image)) throw imageRefusal(image);
  if (body.Tty === true) throw new InvalidArgumentError('berth containers run without a terminal (-t)', 'leave -t out, or use docker exec -it CONTAINER sh in a running one');
  const hostConfig = body.HostConfig === undefined || body.HostConfig === null ? {} : body.HostConfig;
  if (!isObject(hostConfig)) throw new InvalidArgumentError('invalid request: HostConfig must be an object');
  const autoRemove = hostConfig.AutoRemove ?? false;
  if (typeof autoRemove !== 'boolean') throw new InvalidArgumentError('invalid request: HostConfig.AutoRemove must be a boolean');
  const networkMode = optionalString(hostConfig.NetworkMode, 'HostConfig.NetworkMode') ?? 'bridge';
  return {
    dns: {
      nameservers: stringArray(hostConfig.Dns, 'HostConfig.Dns'),
      search: stringArray(hostConfig.DnsSearch, 'HostConfig.DnsSearch'),
      options: stringArray(hostConfig.DnsOptions, 'HostConfig.DnsOptions'),
    },
    extraHosts: stringArray(hostConfig.ExtraHosts, 'HostConfig.ExtraHosts'),
    // The API's form is "name:alias" where either may carry Docker's legacy slashes ("/bb1:/bb2/db").
    links: stringArray(hostConfig.Links, 'HostConfig.Links').map((l) => l.split(':').map((part) => part.replace(/^.*\//, '')).join(':')),
    portMappings: parsePortBindings(hostConfig.PortBindings, body.ExposedPorts, hostConfig.PublishAllPorts),
    endpoint: createEndpointConfig(body, networkMode),
    name: name === '' ? undefined : name,
    hostname: optionalString(body.Hostname, 'Hostname'),
    command: stringArray(body.Cmd, 'Cmd'),
    env: stringArray(body.Env, 'Env'),
    labels: stringMap(body.Labels, 'Labels'),
    networkMode,
    autoRemove,
    openStdin: body.OpenStdin === true,
    ...(optionalBoolean(hostConfig.ReadonlyRootfs, 'HostConfig.ReadonlyRootfs') ? { readOnly: true } : {}),
    ...userOf(body),
  };
}

/** Config.User: "" (what the docker CLI sends without --user) is root, as no field at all. */
function userOf(body: Record<string, unknown>): { user?: string } {
  const user = optionalString(body.User, 'User');
  return user === undefined || user === '' ? {} : { user };
}

/**
 * The endpoint options of a create request: NetworkingConfig.EndpointsConfig has at most
 * one entry, for the network of the network mode (as the docker CLI sends --ip, --alias and
 * --mac-address); older clients send the MAC as Config.MacAddress.
 */
function createEndpointConfig(body: Record<string, unknown>, networkMode: string): EndpointRequest {
  const networking = optionalObject(body.NetworkingConfig, 'NetworkingConfig');
  const configs = optionalObject(networking.EndpointsConfig, 'NetworkingConfig.EndpointsConfig');
  const names = Object.keys(configs);
  if (names.length > 1) throw new InvalidArgumentError('a container can be created on one network only', 'connect it to more with: berth network connect NETWORK CONTAINER');
  const [name] = names;
  if (name !== undefined && name !== networkMode && !(name === 'bridge' && networkMode === 'default')) {
    throw new InvalidArgumentError(`invalid request: NetworkingConfig.EndpointsConfig names network "${quotePrefix(name)}" but the network mode is "${quotePrefix(networkMode)}"`);
  }
  const endpoint = parseEndpointSettings(name === undefined ? {} : configs[name], `NetworkingConfig.EndpointsConfig.${name ?? ''}`);
  const legacyMac = optionalString(body.MacAddress, 'MacAddress');
  return legacyMac !== undefined && endpoint.macAddress === undefined ? { ...endpoint, macAddress: legacyMac } : endpoint;
}

/** Docker's EndpointSettings: IPAMConfig.IPv4Address, Aliases, MacAddress. */
export function parseEndpointSettings(v: unknown, field: string): EndpointRequest {
  const settings = optionalObject(v, field);
  const ipam = optionalObject(settings.IPAMConfig, `${field}.IPAMConfig`);
  const ipv4Address = optionalString(ipam.IPv4Address, `${field}.IPAMConfig.IPv4Address`);
  const macAddress = optionalString(settings.MacAddress, `${field}.MacAddress`);
  return {
    aliases: stringArray(settings.Aliases, `${field}.Aliases`),
    ...(ipv4Address !== undefined ? { ipv4Address } : {}),
    ...(macAddress !== undefined ? { macAddress } : {}),
  };
}

/** POST /networks/create (Docker's NetworkCreateRequest). */
export function parseCreateNetwork(body: unknown): CreateNetworkRequest {
  if (!isObject(body)) throw new InvalidArgumentError('invalid request: the body must be a JSON object');
  const name = optionalString(body.Name, 'Name');
  if (name === undefined) throw new InvalidArgumentError('a network needs a name', 'berth network create [OPTIONS] NAME');
  const ipam = optionalObject(body.IPAM, 'IPAM');
  const ipamDriver = optionalString(ipam.Driver, 'IPAM.Driver');
  if (ipamDriver !== undefined && ipamDriver !== 'default') throw new InvalidArgumentError(`unknown IPAM driver "${quotePrefix(ipamDriver)}"`, 'berth has the default IPAM driver only');
  if (body.EnableIPv6 === true) throw new InvalidArgumentError('IPv6 networks are not supported yet', 'leave --ipv6 out');
  const configs = ipam.Config === undefined || ipam.Config === null ? [] : ipam.Config;
  if (!Array.isArray(configs)) throw new InvalidArgumentError('invalid request: IPAM.Config must be an array');
  return {
    name,
    driver: optionalString(body.Driver, 'Driver') ?? 'bridge',
    internal: optionalBoolean(body.Internal, 'Internal'),
    attachable: optionalBoolean(body.Attachable, 'Attachable'),
    labels: stringMap(body.Labels, 'Labels'),
    options: stringMap(body.Options, 'Options'),
    ipam: configs.map((c: unknown, i): IpamConfigRequest => {
      const config = optionalObject(c, `IPAM.Config[${i}]`);
      return {
        subnet: optionalString(config.Subnet, `IPAM.Config[${i}].Subnet`),
        gateway: optionalString(config.Gateway, `IPAM.Config[${i}].Gateway`),
        ipRange: optionalString(config.IPRange, `IPAM.Config[${i}].IPRange`),
        auxAddresses: stringMap(config.AuxiliaryAddresses, `IPAM.Config[${i}].AuxiliaryAddresses`),
      };
    }),
  };
}

/** POST /networks/{id}/connect and /disconnect: the container, and for connect its EndpointConfig. */
export function parseConnect(body: unknown): { container: string; endpoint: EndpointRequest } {
  if (!isObject(body)) throw new InvalidArgumentError('invalid request: the body must be a JSON object');
  const container = optionalString(body.Container, 'Container');
  if (container === undefined) throw new InvalidArgumentError('invalid request: Container is required');
  return { container, endpoint: parseEndpointSettings(body.EndpointConfig, 'EndpointConfig') };
}

function optionalObject(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new InvalidArgumentError(`invalid request: ${field} must be an object`);
  return v;
}

function optionalBoolean(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`invalid request: ${field} must be a boolean`);
  return v;
}

function stringMap(v: unknown, field: string): Record<string, string> {
  const o = optionalObject(v, field);
  if (!Object.values(o).every((x) => typeof x === 'string')) throw new InvalidArgumentError(`invalid request: ${field} must map strings to strings`);
  return o as Record<string, string>;
}

/** Docker's boolean query parameters: "1", "true" and "True" mean true. */
export function queryFlag(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  return v === '1' || v === 'true' || v === 'True';
}

/** Docker's ExecConfig (POST /containers/{id}/exec). */
export function parseExecConfig(body: unknown): ExecConfig {
  if (!isObject(body)) throw new InvalidArgumentError('invalid request: the body must be a JSON object');
  const flag = (field: string): boolean => {
    const v = body[field] ?? false;
    if (typeof v !== 'boolean') throw new InvalidArgumentError(`invalid request: ${field} must be a boolean`);
    return v;
  };
  const workingDir = optionalString(body.WorkingDir, 'WorkingDir');
  return {
    command: stringArray(body.Cmd, 'Cmd'),
    env: stringArray(body.Env, 'Env'),
    tty: flag('Tty'),
    attachStdin: flag('AttachStdin'),
    attachStdout: flag('AttachStdout'),
    attachStderr: flag('AttachStderr'),
    ...(workingDir ? { workingDir } : {}),
  };
}

/** POST /exec/{id}/start: whether to run it detached (no stream). */
export function parseExecStart(body: unknown): { detach: boolean } {
  if (!isObject(body)) return { detach: false };
  return { detach: body.Detach === true };
}

/** A terminal size from ?h=ROWS&w=COLS. */
export function parseTerminalSize(query: URLSearchParams): { rows: number; cols: number } {
  const rows = Number(query.get('h'));
  const cols = Number(query.get('w'));
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || rows > 65535 || cols > 65535) {
    throw new InvalidArgumentError(`invalid terminal size h=${query.get('h') ?? ''} w=${query.get('w') ?? ''}`, 'give whole numbers of rows and columns, e.g. ?h=24&w=80');
  }
  return { rows, cols };
}
