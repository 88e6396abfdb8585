import { InvalidArgumentError, MissingFeatureError, quotePrefix } from '../../common/errors.js';
import { shortId } from '../../common/ids.js';
import { IPSEC_ESP_SUPPORT, type KernelFeatures } from '../../kernel/features.js';
import { checkKnownOptions, dataNumber, dataString } from '../data.js';
import type { DriverCreateContext, DriverData } from '../driver.js';

/** The overlay driver's options, typed: what `-o` may say and what the record keeps. */
export interface OverlayOptions {
  /** The VXLAN network identifier, the same on every host (allocated cluster-wide unless given). */
  readonly vni: number;
  /** The MTU of the bridge, the VXLAN link and every endpoint: the underlay's minus VXLAN's 50 bytes. */
  readonly mtu: number;
  /** This host's Linux bridge for the network, `ov-<12 hex of the id>`. */
  readonly bridge: string;
  /** This host's VXLAN link for the network, `vx-<12 hex of the id>`. */
  readonly vxlan: string;
}

export const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const MTU_OPTION = 'com.docker.network.driver.mtu';
const ENCRYPTED_OPTION = 'encrypted';
const ACCEPTED = [VXLANID_OPTION, MTU_OPTION, ENCRYPTED_OPTION];

/** VXLAN's own headers (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14) on a 1500-byte underlay. */
export const VXLAN_OVERHEAD = 50;
export const DEFAULT_OVERLAY_MTU = 1500 - VXLAN_OVERHEAD;
/** Docker allocates overlay VNIs from 4096 up, leaving the low ones to hand-made VXLANs. */
export const FIRST_VNI = 4096;
const MAX_VNI = 16_777_215;

/** `defaultMtu`: the underlay's MTU minus VXLAN's overhead, as the daemon found it. */
export function parseOverlayOptions(raw: Readonly<Record<string, string>>, ctx: DriverCreateContext, features: KernelFeatures, defaultMtu = DEFAULT_OVERLAY_MTU): OverlayOptions {
  checkKnownOptions('overlay', raw, ACCEPTED);
  if (raw[ENCRYPTED_OPTION] !== undefined) {
    if (features.ipsecEsp === false) {
      throw new MissingFeatureError(`an encrypted overlay network needs ${IPSEC_ESP_SUPPORT}, which this kernel lacks`, `leave -o ${ENCRYPTED_OPTION} out, or run on a kernel with ESP`);
    }
    throw new InvalidArgumentError('encrypted overlay networks are not built yet', `leave -o ${ENCRYPTED_OPTION} out (docs/drivers.md)`);
  }
  return { vni: vniOption(raw) ?? vniReserved(ctx), mtu: mtuOption(raw) ?? defaultMtu, bridge: `ov-${shortId(ctx.id)}`, vxlan: `vx-${shortId(ctx.id)}` };
}

/** Docker's option holds a list (one VNI per subnet); berth's overlay has one subnet, so one VNI. */
function vniReserved(ctx: DriverCreateContext): number {
  if (ctx.vni === undefined) throw new InvalidArgumentError(`an overlay network needs ${VXLANID_OPTION}`, 'the daemon reserves one in the cluster when the request leaves it out');
  return ctx.vni;
}

function vniOption(raw: Readonly<Record<string, string>>): number | undefined {
  const text = raw[VXLANID_OPTION];
  if (text === undefined) return undefined;
  const vni = Number(text);
  if (!/^\d+$/.test(text) || vni < 1 || vni > MAX_VNI) throw new InvalidArgumentError(`invalid ${VXLANID_OPTION} "${quotePrefix(text)}"`, `one VXLAN id from 1 to ${MAX_VNI}`);
  return vni;
}

function mtuOption(raw: Readonly<Record<string, string>>): number | undefined {
  const text = raw[MTU_OPTION];
  if (text === undefined) return undefined;
  const mtu = Number(text);
  if (!/^\d+$/.test(text) || mtu < 68 || mtu > 65535 - VXLAN_OVERHEAD) {
    throw new InvalidArgumentError(`invalid ${MTU_OPTION} "${quotePrefix(text)}"`, `an MTU from 68 to ${65535 - VXLAN_OVERHEAD}: the underlay's MTU minus ${VXLAN_OVERHEAD}`);
  }
  return mtu;
}

export function overlayData(options: OverlayOptions): DriverData {
  return { vni: options.vni, mtu: options.mtu, bridge: options.bridge, vxlan: options.vxlan };
}

export function overlayOptionsOf(data: DriverData): OverlayOptions {
  return { vni: dataNumber('overlay', data, 'vni'), mtu: dataNumber('overlay', data, 'mtu'), bridge: dataString('overlay', data, 'bridge'), vxlan: dataString('overlay', data, 'vxlan') };
}
