import { ExhaustedError, InvalidArgumentError, quotePrefix } from '../common/errors.js';
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
    throw new InvalidArgumentError(`invalid address pool "${quotePrefix(text)}": it needs exactly base= and size=`, hint);
  }
  const base = parseCidr(baseText, { strict: true });
  checkUsableSubnet(base, 'address pool');
  if (!/^\d{1,2}$/.test(sizeText) || Number(sizeText) < base.prefixLength || Number(sizeText) > 30) {
    throw new InvalidArgumentError(`invalid address pool "${quotePrefix(text)}": size ${sizeText} must be between the base's /${base.prefixLength} and /30`, hint);
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

/**
 * Whether a host route means its subnet is in use, so no network may take it: only
 * on-link routes do (Docker since moby/moby#42598). A route via a gateway says where
 * traffic goes, not that the addresses are taken, and VPNs route everything that way
 * (0.0.0.0/1 + 128.0.0.0/1 via the tunnel): counting those, no subnet was ever free.
 * Half-of-everything routes never count, on-link or not (WireGuard's on-link variant).
 */
export function routeClaimsSubnet(route: { readonly subnet: Ipv4Cidr; readonly onLink: boolean }): boolean {
  return route.onLink && route.subnet.prefixLength > 1;
}

/**
 * Ranges no container network can live in (RFC 6890): "this network", loopback, link-local,
 * multicast, and the reserved block ending in the limited broadcast. A bridge subnet there
 * would be accepted by the kernel and then fail or misroute at the first `run`.
 */
const RESERVED_RANGES: readonly { readonly cidr: Ipv4Cidr; readonly why: string }[] = [
  { cidr: parseCidr('0.0.0.0/8'), why: '0.0.0.0/8 means "this network"' },
  { cidr: parseCidr('127.0.0.0/8'), why: '127.0.0.0/8 is loopback' },
  { cidr: parseCidr('169.254.0.0/16'), why: '169.254.0.0/16 is link-local' },
  { cidr: parseCidr('224.0.0.0/4'), why: '224.0.0.0/4 is multicast' },
  { cidr: parseCidr('240.0.0.0/4'), why: '240.0.0.0/4 is reserved (it holds the broadcast address 255.255.255.255)' },
];

/** Refuses a subnet that overlaps a reserved range, naming the range; `what` says where it was given. */
export function checkUsableSubnet(subnet: Ipv4Cidr, what: string): void {
  const clash = RESERVED_RANGES.find((r) => cidrsOverlap(r.cidr, subnet));
  if (clash) {
    throw new InvalidArgumentError(`${what} ${formatCidr(subnet)} cannot hold containers: ${clash.why}`, 'use a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16');
  }
}
