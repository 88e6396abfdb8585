import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatCidr } from '../common/ipv4.js';
import { FIREWALL_BACKENDS, type FirewallBackendName } from '../firewall/backend.js';
import { parseAddressPoolSpec, type AddressPoolSpec } from '../ipam/subnets.js';

/**
 * The settings a daemon runs with, written to `<data-root>/daemon.json` at its start (world
 * readable: they are no secret), so that planning without the daemon (`run --dry-run` when
 * it is down) plans for the same default bridge, pools and firewall.
 */
export interface DaemonSettings {
  readonly bridge: string;
  readonly bip?: string;
  readonly addressPools: readonly AddressPoolSpec[];
  readonly dnsServers: readonly string[];
  readonly firewall: FirewallBackendName;
}

const FILE = 'daemon.json';

export async function writeDaemonSettings(dataRoot: string, settings: DaemonSettings): Promise<void> {
  const pools = settings.addressPools.map((p) => `base=${formatCidr(p.base)},size=${p.size}`);
  await writeFile(join(dataRoot, FILE), JSON.stringify({ ...settings, addressPools: pools }, null, 2) + '\n', { mode: 0o644 });
}

/** The settings of the last daemon on this data root; undefined when there are none (or they cannot be read). */
export async function readDaemonSettings(dataRoot: string): Promise<DaemonSettings | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dataRoot, FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const v = raw as Record<string, unknown>;
  const firewall = FIREWALL_BACKENDS.find((b) => b === v.firewall);
  const strings = (x: unknown): string[] | undefined => (Array.isArray(x) && x.every((s): s is string => typeof s === 'string') ? x : undefined);
  const pools = strings(v.addressPools);
  const dns = strings(v.dnsServers);
  if (typeof v.bridge !== 'string' || !firewall || !pools || !dns || (v.bip !== undefined && typeof v.bip !== 'string')) return undefined;
  try {
    return { bridge: v.bridge, ...(typeof v.bip === 'string' ? { bip: v.bip } : {}), addressPools: pools.map(parseAddressPoolSpec), dnsServers: dns, firewall };
  } catch {
    return undefined;
  }
}
