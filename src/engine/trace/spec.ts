import { InvalidArgumentError, quotePrefix } from '../../common/errors.js';
import { parseIpv4 } from '../../common/ipv4.js';
import type { Protocol } from '../../kernel/path-probe.js';

/**
 * `berth trace SRC DST[:PORT][/tcp|udp|icmp]`: the two ends as the user wrote them.
 *  - a container (name or id), `host`, or `outside:ADDR` (a host beyond the uplink);
 *  - DST may carry a port (`web:80`, `host:8080` for a published port) and a protocol;
 *    with a port the protocol defaults to tcp, without one to icmp (a ping).
 */
export type TraceEnd =
  | { readonly kind: 'container'; readonly ref: string }
  | { readonly kind: 'host' }
  | { readonly kind: 'outside'; readonly address: string };

export interface TraceRequest {
  readonly src: TraceEnd;
  readonly dst: TraceEnd;
  readonly proto: Protocol;
  readonly port?: number;
}

const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'icmp'];

export function parseTraceRequest(src: string, dst: string): TraceRequest {
  if (/[:/]/.test(src.replace(/^outside:/, ''))) {
    throw new InvalidArgumentError(`invalid trace source "${quotePrefix(src)}": a source takes no port or protocol`, 'give a container, host or outside:ADDR');
  }
  const slash = dst.lastIndexOf('/');
  const protoText = slash === -1 ? undefined : dst.slice(slash + 1);
  if (protoText !== undefined && !(PROTOCOLS as readonly string[]).includes(protoText)) {
    throw new InvalidArgumentError(`invalid protocol "${quotePrefix(protoText)}" in "${quotePrefix(dst)}"`, 'use /tcp, /udp or /icmp');
  }
  const target = slash === -1 ? dst : dst.slice(0, slash);
  const portMatch = /^(.*):(\d+)$/.exec(target);
  const endText = portMatch ? portMatch[1]! : target;
  const port = portMatch ? Number(portMatch[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65535)) throw new InvalidArgumentError(`invalid port ${port} in "${quotePrefix(dst)}"`, 'ports are 1-65535');
  const proto = (protoText as Protocol | undefined) ?? (port === undefined ? 'icmp' : 'tcp');
  if (proto === 'icmp' && port !== undefined) throw new InvalidArgumentError(`"${quotePrefix(dst)}": icmp has no ports`, 'drop the port, or use /tcp or /udp');
  if (proto !== 'icmp' && port === undefined) throw new InvalidArgumentError(`"${quotePrefix(dst)}": ${proto} needs a port`, `e.g. ${endText}:80/${proto}`);
  return { src: parseEnd(src, 'source'), dst: parseEnd(endText, 'destination'), proto, ...(port === undefined ? {} : { port }) };
}

function parseEnd(text: string, role: string): TraceEnd {
  if (text === 'host') return { kind: 'host' };
  if (text.startsWith('outside:')) {
    const address = text.slice('outside:'.length);
    try {
      parseIpv4(address);
    } catch {
      throw new InvalidArgumentError(`invalid ${role} "${quotePrefix(text)}": outside:ADDR takes an IPv4 address`, 'e.g. outside:198.51.100.254');
    }
    return { kind: 'outside', address };
  }
  if (text === '') throw new InvalidArgumentError(`empty trace ${role}`, 'give a container, host or outside:ADDR');
  return { kind: 'container', ref: text };
}

/** The end as the output names it. */
export function endLabel(end: TraceEnd): string {
  return end.kind === 'container' ? end.ref : end.kind === 'host' ? 'host' : `outside:${end.address}`;
}
