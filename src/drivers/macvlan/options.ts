import { InvalidArgumentError, quotePrefix } from '../../common/errors.js';
import { shortId } from '../../common/ids.js';
import { broadcastOf, cidrContains, formatIpv4, parseCidr, parseIpv4 } from '../../common/ipv4.js';
import type { KernelFeatures } from '../../kernel/features.js';
import { MACVLAN_MODES, type MacvlanMode } from '../../kernel/ops.js';
import { booleanOption, checkKnownOptions, dataOneOf, dataOptionalString, oneOfOption } from '../data.js';
import type { DriverCreateContext, DriverData, NetworkAddressing } from '../driver.js';
import { PARENT_OPTION, parentData, parentOf, resolveParent, type ParentLink } from '../parent.js';

/** The macvlan driver's options, typed. */
export interface MacvlanOptions extends ParentLink {
  readonly mode: MacvlanMode;
  /** berth's host access: a macvlan link of the host's own on the parent, and its address. */
  readonly hostAccess?: { readonly link: string; readonly address: string };
}

const MACVLAN_MODE_OPTION = 'macvlan_mode';
const HOST_ACCESS_OPTION = 'berth.host_access';
const HOST_ACCESS_ADDRESS_OPTION = 'berth.host_access_address';
/** The auxiliary-address name under which the host's address on the network is kept out of the pool. */
export const HOST_ACCESS_AUX_NAME = 'berth-host-access';
const ACCEPTED = [PARENT_OPTION, MACVLAN_MODE_OPTION, HOST_ACCESS_OPTION, HOST_ACCESS_ADDRESS_OPTION];

export function parseMacvlanOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext, features: KernelFeatures): MacvlanOptions {
  checkKnownOptions('macvlan', raw, ACCEPTED);
  const mode = oneOfOption(raw, MACVLAN_MODE_OPTION, MACVLAN_MODES, 'bridge');
  const hostAccess = booleanOption(raw, HOST_ACCESS_OPTION);
  if (!hostAccess && raw[HOST_ACCESS_ADDRESS_OPTION] !== undefined) {
    throw new InvalidArgumentError(`${HOST_ACCESS_ADDRESS_OPTION} needs ${HOST_ACCESS_OPTION}=true`, `add -o ${HOST_ACCESS_OPTION}=true`);
  }
  if (hostAccess && mode !== 'bridge') {
    throw new InvalidArgumentError(
      `${HOST_ACCESS_OPTION} needs ${MACVLAN_MODE_OPTION}=bridge, not ${mode}`,
      'only in bridge mode does the kernel switch frames between macvlan links of one parent (the host\'s and the containers\')',
    );
  }
  const parent = resolveParent('macvlan', raw, ctx, features);
  if (!hostAccess) return { ...parent, mode };
  return { ...parent, mode, hostAccess: { link: `mh-${shortId(ctx.id)}`, address: hostAccessAddress(raw[HOST_ACCESS_ADDRESS_OPTION], ctx.subnets) } };
}

/**
 * The host's own address on the network: the one given (in any of its subnets), or the
 * highest usable address of the first subnet that is not the gateway or an auxiliary
 * address (containers take the lowest first, so the two ends meet last). One address is
 * enough: the host reaches each container by a /32 route, whatever its subnet.
 */
function hostAccessAddress(given: string | undefined, subnets: readonly NetworkAddressing[]): string {
  const addressing = given === undefined ? subnets[0]! : (subnets.find((s) => cidrContains(parseCidr(s.subnet), parseIpv4(given))) ?? subnets[0]!);
  const subnet = parseCidr(addressing.subnet);
  const taken = new Set([addressing.gateway, ...Object.values(addressing.auxAddresses)].filter((a) => a !== undefined).map((a) => parseIpv4(a)));
  if (given !== undefined) {
    const ip = parseIpv4(given);
    if (!cidrContains(subnet, ip) || ip === subnet.network || ip === broadcastOf(subnet)) {
      throw new InvalidArgumentError(`invalid ${HOST_ACCESS_ADDRESS_OPTION} "${quotePrefix(given)}": not a usable address of ${addressing.subnet}`, `choose an address of ${addressing.subnet}`);
    }
    if (taken.has(ip)) throw new InvalidArgumentError(`invalid ${HOST_ACCESS_ADDRESS_OPTION} ${given}: it is the gateway or an auxiliary address`, 'choose a free address of the subnet');
    return given;
  }
  for (let ip = broadcastOf(subnet) - 1; ip > subnet.network; ip--) {
    if (!taken.has(ip)) return formatIpv4(ip);
  }
  throw new InvalidArgumentError(`subnet ${addressing.subnet} has no address left for ${HOST_ACCESS_OPTION}`, 'use a larger subnet');
}

export function macvlanData(options: MacvlanOptions): DriverData {
  return {
    ...parentData(options),
    mode: options.mode,
    ...(options.hostAccess ? { hostLink: options.hostAccess.link, hostAddress: options.hostAccess.address } : {}),
  };
}

export function macvlanOptionsOf(data: DriverData): MacvlanOptions {
  const link = dataOptionalString('macvlan', data, 'hostLink');
  const address = dataOptionalString('macvlan', data, 'hostAddress');
  return {
    ...parentOf('macvlan', data),
    mode: dataOneOf('macvlan', data, 'mode', MACVLAN_MODES),
    ...(link !== undefined && address !== undefined ? { hostAccess: { link, address } } : {}),
  };
}
