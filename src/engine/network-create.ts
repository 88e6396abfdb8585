import { ConflictError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { NetworkAddressing, NetworkDriver } from '../drivers/driver.js';
import type { DriverRegistry } from '../drivers/registry.js';
import type { HostLinkPresence } from '../kernel/view.js';
import { broadcastOf, cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4, type Ipv4Cidr } from '../common/ipv4.js';
import { candidatesOf, firstFreeSubnet, type AddressPoolSpec, checkUsableSubnet } from '../ipam/subnets.js';
import type { HostRoute } from '../kernel/read.js';
import { BUILTIN_NETWORKS, hasAddresses, subnetsText, type AddressedNetwork, type NetworkRecord } from './model.js';
import { driverNetwork } from './networks.js';

/**
 * `network create`: turning a request into the record of a new network, or a
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
  readonly pools: readonly AddressPoolSpec[];
  readonly drivers: DriverRegistry;
  readonly live: HostLinkPresence;
  /** For a global network: the VXLAN id the cluster reserved for it. */
  readonly vni?: number;
  /** Only planning (--dry-run): a driver this kernel cannot run still plans. */
  readonly planOnly?: boolean;
}

// Docker's rule for network names (the same as for container names).
const VALID_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * The record of a new network: the generic checks here (name, addresses), the driver's
 * own in its validateOptions, which may reserve addresses for itself or drop the gateway.
 */
export function newNetwork(request: CreateNetworkRequest, ctx: NetworkCreateContext, id = newId()): AddressedNetwork {
  const name = validateName(request.name, ctx.existing);
  const driver = ctx.drivers.forCreate(request.driver === '' ? 'bridge' : request.driver, { planOnly: ctx.planOnly });
  const { subnets, userSubnet } = ipamConfig(request.ipam, ctx, driver);
  const others = ctx.existing.filter(hasAddresses).map(driverNetwork);
  const config = driver.validateOptions(request.options, { id, name, internal: request.internal, subnets, others, live: ctx.live, ...(ctx.vni !== undefined ? { vni: ctx.vni } : {}) });
  const reserved = Object.entries(config.reservedAddresses ?? {});
  return {
    id,
    name,
    driver: driver.name,
    scope: driver.capabilities.scope,
    created: new Date().toISOString(),
    internal: request.internal,
    attachable: request.attachable,
    ipam: {
      subnets: subnets.map(({ gateway, ...rest }) => {
        const inThisSubnet = reserved.filter(([, ip]) => cidrContains(parseCidr(rest.subnet), parseIpv4(ip)));
        return { ...rest, ...(config.withoutGateway ? {} : { gateway }), auxAddresses: { ...rest.auxAddresses, ...Object.fromEntries(inThisSubnet) } };
      }),
      userSubnet,
    },
    driverData: config.data,
    options: { ...request.options, ...config.impliedOptions },
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

/** A subnet as settled at create: it has a gateway until its driver says it routes without one. */
type SettledSubnet = NetworkAddressing & { readonly gateway: string };

/**
 * The network's addresses: the subnets given (each checked against reserved ranges, other
 * networks, each other and, unless it lives on a parent's LAN, the host's routes) or the
 * next free one of the pools. Several subnets only for drivers that take them, as Docker.
 */
function ipamConfig(configs: readonly IpamConfigRequest[], ctx: NetworkCreateContext, driver: NetworkDriver): { subnets: SettledSubnet[]; userSubnet: boolean } {
  if (configs.length > 1 && !driver.capabilities.multipleSubnets) {
    throw new InvalidArgumentError(`the ${driver.name} driver takes one IPv4 subnet per network, ${configs.length} were given`, 'give --subnet once (macvlan and ipvlan networks take several)');
  }
  const config: IpamConfigRequest = configs[0] ?? { auxAddresses: {} };
  if (configs.length <= 1 && config.subnet === undefined) {
    for (const [flag, given] of [['--gateway', config.gateway], ['--ip-range', config.ipRange]] as const) {
      if (given !== undefined) throw new InvalidArgumentError(`${flag} needs --subnet`, 'give the subnet it belongs to, e.g. --subnet 10.10.0.0/24');
    }
    if (Object.keys(config.auxAddresses).length > 0) throw new InvalidArgumentError('--aux-address needs --subnet', 'give the subnet it belongs to, e.g. --subnet 10.10.0.0/24');
    const subnet = freeSubnet(ctx);
    return { subnets: [{ subnet: formatCidr(subnet), gateway: formatIpv4(subnet.network + 1), auxAddresses: {} }], userSubnet: false };
  }
  const subnets: SettledSubnet[] = [];
  configs.forEach((c, index) => {
    if (c.subnet === undefined) throw new InvalidArgumentError(`IPAM config ${index + 1} of ${configs.length} has no subnet`, 'with several IPAM configs, each needs its --subnet');
    const settled = subnetConfig({ ...c, subnet: c.subnet }, ctx, driver.capabilities.needsParent);
    const twin = subnets.find((other) => cidrsOverlap(parseCidr(other.subnet), parseCidr(settled.subnet)));
    if (twin) throw new InvalidArgumentError(`subnets ${twin.subnet} and ${settled.subnet} overlap`, 'the subnets of one network must be disjoint');
    subnets.push(settled);
  });
  return { subnets, userSubnet: true };
}

/** One subnet the user gave, with its gateway (default: its first address), range and auxiliary addresses. */
function subnetConfig(config: IpamConfigRequest & { readonly subnet: string }, ctx: NetworkCreateContext, onParentLan: boolean): SettledSubnet {
  const subnet = parseCidr(config.subnet, { strict: true });
  if (subnet.prefixLength > 30) throw new InvalidArgumentError(`subnet ${config.subnet} is too small`, 'a network needs at least a /30: the gateway and one container');
  checkUsableSubnet(subnet, 'subnet');
  checkOverlaps(subnet, ctx, onParentLan);
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
  return { subnet: formatCidr(subnet), gateway: formatIpv4(gateway), ...(ipRange !== undefined ? { ipRange } : {}), auxAddresses };
}

/**
 * A given subnet may overlap no other network, nor a route of this host — except for a
 * network on a parent's LAN (macvlan, ipvlan), whose subnet is the LAN's, which the host
 * routes on that parent as a matter of course.
 */
function checkOverlaps(subnet: Ipv4Cidr, ctx: NetworkCreateContext, onParentLan: boolean): void {
  const network = ctx.existing.filter(hasAddresses).find((n) => n.ipam.subnets.some((s) => cidrsOverlap(parseCidr(s.subnet), subnet)));
  if (network) {
    throw new ConflictError(`subnet ${formatCidr(subnet)} overlaps network ${network.name} (${subnetsText(network)})`, 'choose a subnet no other network uses, or leave --subnet out to get a free one');
  }
  if (onParentLan) return;
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
  const taken = [...ctx.existing.filter(hasAddresses).flatMap((n) => n.ipam.subnets.map((s) => parseCidr(s.subnet))), ...ctx.routes.map((r) => r.subnet), ...nameservers];
  return firstFreeSubnet(candidatesOf(ctx.pools), taken, 'give one with --subnet, or more pools with berth daemon --default-address-pool base=CIDR,size=N');
}
