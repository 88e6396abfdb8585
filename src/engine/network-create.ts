import { ConflictError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { newId, shortId } from '../common/ids.js';
import { broadcastOf, cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from '../common/ipv4.js';
import { candidatesOf, firstFreeSubnet, type AddressPoolSpec, checkUsableSubnet } from '../ipam/subnets.js';
import type { HostRoute } from '../kernel/read.js';
import { BUILTIN_NETWORKS, isBridgeNetwork, type BridgeNetworkRecord, type NetworkRecord } from './model.js';

/**
 * `network create`: turning a request into the record of a new bridge network, or a
 * specific error. Pure: everything it checks against (other networks, host routes and
 * links, nameservers, address pools) is passed in, so every rule here has a unit test.
 */
export interface IpamConfigRequest {
  readonly subnet?: string;
  readonly gateway?: string;
  readonly ipRange?: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/** Docker's NetworkCreateRequest, typed. */
export interface CreateNetworkRequest {
  readonly name: string;
  readonly driver: string;
  readonly internal: boolean;
  readonly attachable: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly ipam: readonly IpamConfigRequest[];
}

export interface NetworkCreateContext {
  readonly existing: readonly NetworkRecord[];
  readonly routes: readonly HostRoute[];
  /** Nameservers containers will use: a subnet chosen from the pools must not hide one. */
  readonly nameservers: readonly string[];
  readonly hostLinks: ReadonlySet<string>;
  readonly pools: readonly AddressPoolSpec[];
}

export const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
export const MTU_OPTION = 'com.docker.network.driver.mtu';
const KNOWN_OPTIONS = [BRIDGE_NAME_OPTION, MTU_OPTION];

// Docker's rule for network names (the same as for container names).
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const VALID_LINK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;

export function newBridgeNetwork(request: CreateNetworkRequest, ctx: NetworkCreateContext, id = newId()): BridgeNetworkRecord {
  const name = validateName(request.name, ctx.existing);
  validateDriver(request.driver);
  const bridge = bridgeName(request.options, id, ctx);
  const mtu = mtuOption(request.options);
  const ipam = ipamConfig(request.ipam, ctx);
  return {
    id,
    name,
    driver: 'bridge',
    created: new Date().toISOString(),
    bridge,
    ...ipam,
    mtu,
    internal: request.internal,
    attachable: request.attachable,
    options: { ...request.options },
    labels: { ...request.labels },
  };
}

function validateName(name: string, existing: readonly NetworkRecord[]): string {
  if (!VALID_NAME.test(name) || name.length > 128) {
    throw new InvalidArgumentError(`invalid network name "${quotePrefix(name)}"`, 'names start with a letter or digit and contain only [a-zA-Z0-9_.-] (at most 128 characters)');
  }
  if ((BUILTIN_NETWORKS as readonly string[]).includes(name)) {
    throw new ConflictError(`network name "${quotePrefix(name)}" is reserved for a built-in network`, 'choose another name');
  }
  if (existing.some((n) => n.name === name)) throw new ConflictError(`network with name ${name} already exists`, 'choose another name, or remove it first (berth network rm)');
  return name;
}

function validateDriver(driver: string): void {
  if (driver === '' || driver === 'bridge') return;
  if (driver === 'host' || driver === 'null' || driver === 'none') {
    throw new InvalidArgumentError(`only one instance of the "${quotePrefix(driver)}" network is allowed: it is built in`, 'use --network host or --network none when running a container');
  }
  throw new InvalidArgumentError(`unknown network driver "${quotePrefix(driver)}"`, 'accepted drivers: bridge');
}

function bridgeName(options: Readonly<Record<string, string>>, id: string, ctx: NetworkCreateContext): string {
  const unknown = Object.keys(options).filter((k) => !KNOWN_OPTIONS.includes(k));
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown bridge driver option "${unknown[0]!}"`, `accepted options: ${KNOWN_OPTIONS.join(', ')}`);
  }
  const given = options[BRIDGE_NAME_OPTION];
  if (given === undefined) return `br-${shortId(id)}`;
  if (!VALID_LINK_NAME.test(given)) {
    throw new InvalidArgumentError(`invalid ${BRIDGE_NAME_OPTION} "${quotePrefix(given)}"`, 'a link name of 1-15 characters from [a-zA-Z0-9_.-]');
  }
  const owner = ctx.existing.filter(isBridgeNetwork).find((n) => n.bridge === given);
  if (owner) throw new ConflictError(`bridge name ${given} is already used by network ${owner.name}`, 'choose another bridge name');
  if (ctx.hostLinks.has(given)) throw new ConflictError(`a link named ${given} already exists on this host`, 'choose another bridge name; berth does not take over links it did not create');
  return given;
}

function mtuOption(options: Readonly<Record<string, string>>): number | undefined {
  const text = options[MTU_OPTION];
  if (text === undefined) return undefined;
  const mtu = Number(text);
  if (!/^\d+$/.test(text) || mtu < 68 || mtu > 65535) {
    throw new InvalidArgumentError(`invalid ${MTU_OPTION} "${quotePrefix(text)}"`, 'an MTU from 68 to 65535');
  }
  return mtu;
}

type IpamFields = Pick<BridgeNetworkRecord, 'subnet' | 'gateway' | 'ipRange' | 'auxAddresses' | 'userSubnet'>;

function ipamConfig(configs: readonly IpamConfigRequest[], ctx: NetworkCreateContext): IpamFields {
  if (configs.length > 1) throw new InvalidArgumentError('berth supports one IPv4 subnet per network', 'give --subnet once');
  const config: IpamConfigRequest = configs[0] ?? { auxAddresses: {} };
  if (config.subnet === undefined) {
    for (const [flag, given] of [['--gateway', config.gateway], ['--ip-range', config.ipRange]] as const) {
      if (given !== undefined) throw new InvalidArgumentError(`${flag} needs --subnet`, 'give the subnet it belongs to, e.g. --subnet 10.10.0.0/24');
    }
    if (Object.keys(config.auxAddresses).length > 0) throw new InvalidArgumentError('--aux-address needs --subnet', 'give the subnet it belongs to, e.g. --subnet 10.10.0.0/24');
    const subnet = freeSubnet(ctx);
    return { subnet: formatCidr(subnet), gateway: formatIpv4(subnet.network + 1), auxAddresses: {}, userSubnet: false };
  }
  const subnet = parseCidr(config.subnet, { strict: true });
  if (subnet.prefixLength > 30) throw new InvalidArgumentError(`subnet ${config.subnet} is too small`, 'a bridge network needs at least a /30: the gateway and one container');
  checkUsableSubnet(subnet, 'subnet');
  checkOverlaps(subnet, ctx);
  const where = `subnet ${formatCidr(subnet)}`;
  const usable = (ip: number) => cidrContains(subnet, ip) && ip !== subnet.network && ip !== broadcastOf(subnet);
  const gateway = config.gateway === undefined ? subnet.network + 1 : parseIpv4(config.gateway);
  if (!usable(gateway)) throw new InvalidArgumentError(`gateway ${formatIpv4(gateway)} is not a usable address of ${where}`, `choose an address from ${formatIpv4(subnet.network + 1)} to ${formatIpv4(broadcastOf(subnet) - 1)}`);
  let ipRange: string | undefined;
  if (config.ipRange !== undefined) {
    const range = parseCidr(config.ipRange, { strict: true });
    if (range.prefixLength < subnet.prefixLength || !cidrContains(subnet, range.network)) {
      throw new InvalidArgumentError(`ip range ${config.ipRange} is outside ${where}`, 'the range must be a part of the subnet');
    }
    ipRange = formatCidr(range);
  }
  const auxAddresses: Record<string, string> = {};
  for (const [host, text] of Object.entries(config.auxAddresses)) {
    const ip = parseIpv4(text);
    if (!usable(ip)) throw new InvalidArgumentError(`auxiliary address ${host}=${text} is not a usable address of ${where}`);
    if (ip === gateway) throw new InvalidArgumentError(`auxiliary address ${host}=${text} is the gateway`, 'the gateway is reserved already');
    const twice = Object.entries(auxAddresses).find(([, other]) => other === text);
    if (twice) throw new InvalidArgumentError(`auxiliary addresses ${twice[0]} and ${host} are both ${text}`);
    auxAddresses[host] = text;
  }
  return { subnet: formatCidr(subnet), gateway: formatIpv4(gateway), ipRange, auxAddresses, userSubnet: true };
}

/** A given subnet may overlap neither another network nor a route of this host. */
function checkOverlaps(subnet: Ipv4Cidr, ctx: NetworkCreateContext): void {
  const network = ctx.existing.filter(isBridgeNetwork).find((n) => cidrsOverlap(parseCidr(n.subnet), subnet));
  if (network) {
    throw new ConflictError(`subnet ${formatCidr(subnet)} overlaps network ${network.name} (${network.subnet})`, 'choose a subnet no other network uses, or leave --subnet out to get a free one');
  }
  const route = ctx.routes.find((r) => cidrsOverlap(r.subnet, subnet));
  if (route) {
    throw new ConflictError(
      `subnet ${formatCidr(subnet)} overlaps the host route ${formatCidr(route.subnet)}${route.dev ? ` on ${route.dev}` : ''}`,
      'choose a subnet this host does not route, or leave --subnet out to get a free one',
    );
  }
}

function freeSubnet(ctx: NetworkCreateContext): Ipv4Cidr {
  const nameservers = ctx.nameservers.filter((ns) => /^\d+\.\d+\.\d+\.\d+$/.test(ns) && !ns.startsWith('127.')).map((ns) => parseCidr(`${ns}/32`));
  const taken = [...ctx.existing.filter(isBridgeNetwork).map((n) => parseCidr(n.subnet)), ...ctx.routes.map((r) => r.subnet), ...nameservers];
  return firstFreeSubnet(candidatesOf(ctx.pools), taken, 'give one with --subnet, or more pools with berth daemon --default-address-pool base=CIDR,size=N');
}
