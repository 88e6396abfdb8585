import { ExhaustedError } from '../common/errors.js';
import { cidrsOverlap, formatCidr, parseCidr, type Ipv4Cidr } from '../common/ipv4.js';

/**
 * Where the default bridge's subnet comes from when `--bip` is not given: 172.17.0.0/16
 * as the seeds and Docker use, unless the host already routes something overlapping it;
 * then the next /16 of Docker's default pool (172.18-31), then /20s of 192.168.0.0/16.
 */
export function defaultBridgeCandidates(): Ipv4Cidr[] {
  const candidates: Ipv4Cidr[] = [];
  for (let second = 17; second <= 31; second++) candidates.push(parseCidr(`172.${second}.0.0/16`));
  for (let third = 0; third < 256; third += 16) candidates.push(parseCidr(`192.168.${third}.0/20`));
  return candidates;
}

export function firstFreeSubnet(candidates: readonly Ipv4Cidr[], taken: readonly Ipv4Cidr[]): Ipv4Cidr {
  const free = candidates.find((c) => !taken.some((t) => cidrsOverlap(c, t)));
  if (!free) {
    throw new ExhaustedError(
      `no free subnet in the default pools: every candidate overlaps a route of this host (${taken.map(formatCidr).join(', ')})`,
      'choose one explicitly with --bip',
    );
  }
  return free;
}
