import { ConflictError, InvalidArgumentError, quotePrefix } from '../../common/errors.js';
import { shortId } from '../../common/ids.js';
import { checkKnownOptions, dataOptionalNumber, dataString, VALID_LINK_NAME } from '../data.js';
import type { DriverCreateContext, DriverData } from '../driver.js';

/** The bridge driver's options, typed: what `-o` may say and what the record keeps. */
export interface BridgeOptions {
  /** The Linux bridge: `br-<12 hex of the id>` unless named. */
  readonly bridge: string;
  readonly mtu?: number;
  /** `-o berth.host_access=true`: containers may reach the host's own services; by default only published ports and ping. */
  readonly hostAccess: boolean;
}

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const MTU_OPTION = 'com.docker.network.driver.mtu';
/** Docker writes these on its default bridge; accepted (and kept) so its records and requests pass. */
const DEFAULT_BRIDGE_OPTIONS = ['com.docker.network.bridge.default_bridge', 'com.docker.network.bridge.enable_ip_masquerade'];
export const HOST_ACCESS_OPTION = 'berth.host_access';
const ACCEPTED = [BRIDGE_NAME_OPTION, MTU_OPTION, HOST_ACCESS_OPTION, ...DEFAULT_BRIDGE_OPTIONS];

export function parseBridgeOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext): BridgeOptions {
  checkKnownOptions('bridge', raw, ACCEPTED);
  const mtu = mtuOption(raw);
  const hostAccess = hostAccessOption(raw);
  const given = raw[BRIDGE_NAME_OPTION];
  if (given === undefined) return { bridge: `br-${shortId(ctx.id)}`, mtu, hostAccess };
  if (!VALID_LINK_NAME.test(given)) {
    throw new InvalidArgumentError(`invalid ${BRIDGE_NAME_OPTION} "${quotePrefix(given)}"`, 'a link name of 1-15 characters from [a-zA-Z0-9_.-]');
  }
  const owner = ctx.others.find((n) => n.driver === 'bridge' && n.data.bridge === given);
  if (owner) throw new ConflictError(`bridge name ${given} is already used by network ${owner.name}`, 'choose another bridge name');
  if (ctx.live.links.has(given)) throw new ConflictError(`a link named ${given} already exists on this host`, 'choose another bridge name; berth does not take over links it did not create');
  return { bridge: given, mtu, hostAccess };
}

function hostAccessOption(raw: Readonly<Record<string, string>>): boolean {
  const text = raw[HOST_ACCESS_OPTION] ?? 'false';
  if (text !== 'true' && text !== 'false') throw new InvalidArgumentError(`invalid ${HOST_ACCESS_OPTION} "${quotePrefix(text)}"`, 'true or false');
  return text === 'true';
}

function mtuOption(raw: Readonly<Record<string, string>>): number | undefined {
  const text = raw[MTU_OPTION];
  if (text === undefined) return undefined;
  const mtu = Number(text);
  if (!/^\d+$/.test(text) || mtu < 68 || mtu > 65535) {
    throw new InvalidArgumentError(`invalid ${MTU_OPTION} "${quotePrefix(text)}"`, 'an MTU from 68 to 65535');
  }
  return mtu;
}

export function bridgeData(options: BridgeOptions): DriverData {
  return { bridge: options.bridge, ...(options.mtu === undefined ? {} : { mtu: options.mtu }), ...(options.hostAccess ? { hostAccess: true } : {}) };
}

/** Records made before host access existed have none: those networks are denied it too. */
export function bridgeOptionsOf(data: DriverData): BridgeOptions {
  return { bridge: dataString('bridge', data, 'bridge'), mtu: dataOptionalNumber('bridge', data, 'mtu'), hostAccess: data.hostAccess === true };
}
