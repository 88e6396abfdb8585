import { KernelError } from '../common/errors.js';
import { runTool } from './spawn.js';

/**
 * Which link kinds this kernel can create. Asked once, at daemon start, by trying each in
 * a throwaway network namespace (`unshare --net`), so the probe never adds a link to the
 * host: "Unknown device type" means the kernel has no such driver (and cannot load one);
 * any other answer (success, or a refusal of the probe's parent `lo`) means it has.
 * Module-loaded drivers do not always show in /sys/module, so asking is the honest test.
 */
export const LINK_KINDS = ['bridge', 'veth', 'macvlan', 'ipvlan', 'vlan', 'dummy', 'vxlan'] as const;
export type LinkKind = (typeof LINK_KINDS)[number];

/** What to call each kind's kernel support in an error, with its config option. */
export const LINK_KIND_SUPPORT: Readonly<Record<LinkKind, string>> = {
  bridge: 'bridge support (CONFIG_BRIDGE)',
  veth: 'veth support (CONFIG_VETH)',
  macvlan: 'macvlan support (CONFIG_MACVLAN)',
  ipvlan: 'ipvlan support (CONFIG_IPVLAN)',
  vlan: '802.1q VLAN support (CONFIG_VLAN_8021Q)',
  dummy: 'dummy link support (CONFIG_DUMMY)',
  vxlan: 'VXLAN support (CONFIG_VXLAN)',
};

export interface KernelFeatures {
  readonly linkKinds: ReadonlySet<LinkKind>;
  /** Whether the kernel has IPsec ESP with AES-GCM, as an encrypted overlay needs (CONFIG_INET_ESP). Absent: not asked. */
  readonly ipsecEsp?: boolean;
}

/** What to call IPsec's kernel support in an error. */
export const IPSEC_ESP_SUPPORT = 'IPsec ESP support (CONFIG_INET_ESP, CONFIG_XFRM_USER)';

/** Every kind present: for planning without a kernel to ask (unit tests). */
export const ALL_FEATURES: KernelFeatures = { linkKinds: new Set(LINK_KINDS), ipsecEsp: true };

/**
 * An ESP security association of the kind Docker's encrypted overlay installs (AES-GCM):
 * `ip` prints nothing when the kernel takes it, "Requested type not found" without ESP.
 */
const ESP_PROBE = "xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode transport aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128";

/** One `ip link add` per kind, each needing no other link than lo. */
const PROBE_COMMANDS: Readonly<Record<LinkKind, string>> = {
  bridge: 'link add p type bridge',
  veth: 'link add p type veth peer name q',
  macvlan: 'link add link lo name p type macvlan',
  ipvlan: 'link add link lo name p type ipvlan mode l2',
  vlan: 'link add link lo name p type vlan id 2',
  dummy: 'link add p type dummy',
  vxlan: 'link add p type vxlan id 2 dstport 4789',
};

/** Runs every probe in one process (a fresh namespace each time, so names never clash). */
export async function probeKernelFeatures(): Promise<KernelFeatures> {
  const script = [...LINK_KINDS.map((kind) => `echo "#${kind}"; ip ${PROBE_COMMANDS[kind]} 2>&1; ip link del p 2>/dev/null`), `echo "#esp"; ip ${ESP_PROBE} 2>&1`].join('\n');
  const result = await runTool('unshare', ['--net', 'sh', '-c', script]);
  // No sections at all: unshare itself failed (not root), so nothing was asked.
  if (!result.stdout.includes(`#${LINK_KINDS[0]}`)) {
    throw new KernelError(`cannot probe the kernel's link kinds: unshare --net failed: ${result.stderr.trim()}`, 'unshare --net', result.stderr);
  }
  return { linkKinds: parseProbeOutput(result.stdout), ipsecEsp: parseEspProbe(result.stdout) };
}

/** Whether the ESP probe's section is silent (the kernel took the security association). */
export function parseEspProbe(output: string): boolean {
  const section = output.split('#esp\n')[1];
  return section !== undefined && section.trim() === '';
}

/** The kinds whose probe did not answer "Unknown device type". */
export function parseProbeOutput(output: string): Set<LinkKind> {
  const present = new Set<LinkKind>();
  for (const section of output.split('#').slice(1)) {
    const [name, ...rest] = section.split('\n');
    const kind = LINK_KINDS.find((k) => k === name?.trim());
    if (kind && !/Unknown device type/i.test(rest.join('\n'))) present.add(kind);
  }
  return present;
}
