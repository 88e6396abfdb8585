import { ExhaustedError, InvalidArgumentError } from '../common/errors.js';
import { cidrSize, cidrsOverlap, formatCidr, parseCidr, type Ipv4Cidr } from '../common/ipv4.js';

/**
 * Where network subnets come from when none is given: address pools, each a base range cut
 * into subnets of one size, as dockerd's `--default-address-pool base=CIDR,size=N`.
 * Docker's defaults: 172.17.0.0/16 ... 172.31.0.0/16 as /16s, then 192.168.0.0/16 as /20s.
 * The first candidate that overlaps nothing taken (other networks, host routes) wins.
 */
export interface AddressPoolSpec {
  readonly base: Ipv4Cidr;
  /** Prefix length of the subnets cut from `base`. */
  readonly size: number;
}

export const DOCKER_DEFAULT_POOLS: readonly AddressPoolSpec[] = [
  ...Array.from({ length: 15 }, (_, i) => ({ base: parseCidr(`172.${17 + i}.0.0/16`), size: 16 })),
  { base: parseCidr('192.168.0.0/16'), size: 20 },
];

/** Parses dockerd's `base=172.30.0.0/16,size=24`. */
export function parseAddressPoolSpec(text: string): AddressPoolSpec {
  const fields = new Map(text.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const));
  const baseText = fields.get('base');
  const sizeText = fields.get('size');
  const hint = 'use base=CIDR,size=PREFIX, e.g. base=172.30.0.0/16,size=24';
  if (baseText === undefined || sizeText === undefined || fields.size !== 2 || text.split(',').some((kv) => !kv.includes('='))) {
    throw new InvalidArgumentError(`invalid address pool "${text}": it needs exactly base= and size=`, hint);
  }
  const base = parseCidr(baseText, { strict: true });
  if (!/^\d{1,2}$/.test(sizeText) || Number(sizeText) < base.prefixLength || Number(sizeText) > 30) {
    throw new InvalidArgumentError(`invalid address pool "${text}": size ${sizeText} must be between the base's /${base.prefixLength} and /30`, hint);
  }
  return { base, size: Number(sizeText) };
}

/** Every subnet the pools offer, in order. */
export function candidatesOf(pools: readonly AddressPoolSpec[]): Ipv4Cidr[] {
  const out: Ipv4Cidr[] = [];
  for (const { base, size } of pools) {
    const step = 2 ** (32 - size);
    for (let offset = 0; offset < cidrSize(base); offset += step) out.push({ network: base.network + offset, prefixLength: size });
  }
  return out;
}

/** The candidates of the default bridge, when `--bip` is not given. */
export function defaultBridgeCandidates(): Ipv4Cidr[] {
  return candidatesOf(DOCKER_DEFAULT_POOLS);
}

export function firstFreeSubnet(candidates: readonly Ipv4Cidr[], taken: readonly Ipv4Cidr[], hint = 'choose one explicitly with --bip'): Ipv4Cidr {
  const free = candidates.find((c) => !taken.some((t) => cidrsOverlap(c, t)));
  if (!free) {
    throw new ExhaustedError(
      `no free subnet in the address pools: every candidate overlaps a subnet in use (${taken.map(formatCidr).join(', ')})`,
      hint,
    );
  }
  return free;
}
