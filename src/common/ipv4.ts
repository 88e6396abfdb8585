import { InvalidArgumentError, quotePrefix } from './errors.js';

/** An IPv4 address as an unsigned 32-bit integer: arithmetic on subnets stays exact. */
export type Ipv4 = number;

export interface Ipv4Cidr {
  readonly network: Ipv4; // the address with host bits cleared
  readonly prefixLength: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIpv4(text: string): Ipv4 {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) {
    throw new InvalidArgumentError(
      `invalid IPv4 address "${text}"`,
      'use dotted-quad form, e.g. "172.17.0.2"',
    );
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(ip: Ipv4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export function maskOf(prefixLength: number): Ipv4 {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** Parses "a.b.c.d/n". With `strict`, host bits must be zero (as `docker network create --subnet` demands). */
export function parseCidr(text: string, opts: { strict?: boolean } = {}): Ipv4Cidr & { address: Ipv4 } {
  const [addr, len, extra] = text.split('/');
  if (addr === undefined || len === undefined || extra !== undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) {
    throw new InvalidArgumentError(`invalid CIDR "${quotePrefix(text)}"`, 'use address/prefix form, e.g. "172.17.0.0/16"');
  }
  const address = parseIpv4(addr);
  const prefixLength = Number(len);
  const network = (address & maskOf(prefixLength)) >>> 0;
  if (opts.strict && network !== address) {
    throw new InvalidArgumentError(
      `invalid subnet "${text}": host bits are set`,
      `did you mean "${formatIpv4(network)}/${prefixLength}"?`,
    );
  }
  return { address, network, prefixLength };
}

export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefixLength}`;
}

export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefixLength);
}

export function broadcastOf(c: Ipv4Cidr): Ipv4 {
  return (c.network + cidrSize(c) - 1) >>> 0;
}

export function cidrContains(c: Ipv4Cidr, ip: Ipv4): boolean {
  return ((ip & maskOf(c.prefixLength)) >>> 0) === c.network;
}

export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  const shorter = Math.min(a.prefixLength, b.prefixLength);
  const m = maskOf(shorter);
  return ((a.network & m) >>> 0) === ((b.network & m) >>> 0);
}

/** The four address bytes, e.g. for Docker's MAC derivation. */
export function ipv4Bytes(ip: Ipv4): [number, number, number, number] {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
}
