import * as dnsPacket from 'dns-packet';

/**
 * The DNS messages the resolver reads and writes, over dns-packet: a query is validated
 * once here (a datagram from a container is untrusted input), answers are built here.
 */
export interface Query {
  readonly id: number;
  readonly name: string;
  readonly type: string;
  /** The query's flags, of which a response copies RD (and the opcode, always QUERY here). */
  readonly flags: number;
  /** The header's OPCODE: 0 is a standard query; UPDATE (5), NOTIFY (4) and others are not served. */
  readonly opcode: number;
  /** The question's class: IN is served; CHAOS (version.bind) and others are refused. */
  readonly class: string;
}

export const OPCODE_QUERY = 0;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

/** Answers stay this long in caches: short, since containers come and go (Docker: 600 s). */
export const LOCAL_TTL_S = 600;
/** Without EDNS a UDP answer must fit 512 bytes (RFC 1035); larger ones are truncated. */
const MAX_UDP_PLAIN = 512;

/** Undefined for anything that is not one standard query with one question. */
export function parseQuery(message: Buffer): Query | undefined {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    return undefined;
  }
  const question = packet.questions?.[0];
  if (packet.type !== 'query' || packet.questions?.length !== 1 || !question) return undefined;
  const flags = packet.flags ?? 0;
  return { id: packet.id ?? 0, name: question.name, type: question.type, flags, opcode: (flags >> 11) & 0xf, class: question.class ?? 'IN' };
}

/** The id of a message, read without decoding (forwarded answers keep their bytes). */
/** Whether a message is a response (the QR bit of the header's flags): resolvers answer only queries. */
export function isResponse(message: Buffer): boolean {
  return message.length >= 3 && (message[2]! & 0x80) !== 0;
}

export function messageId(message: Buffer): number {
  return message.readUInt16BE(0);
}

export function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}

type LocalRecord = { readonly type: 'A'; readonly address: string } | { readonly type: 'PTR'; readonly name: string };

export function answer(query: Query, rcode: Rcode, records: readonly LocalRecord[] = [], transport: 'udp' | 'tcp' = 'udp'): Buffer {
  const flags = (query.flags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode | (records.length > 0 || rcode === RCODE.NXDOMAIN ? dnsPacket.AUTHORITATIVE_ANSWER : 0);
  const answers: dnsPacket.Answer[] = records.map((r) =>
    r.type === 'A'
      ? { type: 'A', name: query.name, ttl: LOCAL_TTL_S, class: 'IN', data: r.address }
      : { type: 'PTR', name: query.name, ttl: LOCAL_TTL_S, class: 'IN', data: r.name },
  );
  const packet: dnsPacket.Packet = { type: 'response', id: query.id, flags, questions: [{ type: query.type as dnsPacket.RecordType, name: query.name, class: query.class as dnsPacket.RecordClass }], answers };
  const encoded = dnsPacket.encode(packet);
  if (transport === 'udp' && encoded.length > MAX_UDP_PLAIN) {
    return dnsPacket.encode({ ...packet, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
  }
  return encoded;
}

/**
 * A bare error answer (FORMERR, NOTIMP) to a message read no further than its header:
 * the id, the opcode and RD copied, no records. Nothing for less than a header.
 */
export function failureFor(message: Buffer, rcode: Rcode): Buffer | undefined {
  if (message.length < 12) return undefined;
  const header = Buffer.from(message.subarray(0, 12));
  header.writeUInt16BE(0x8000 | (header.readUInt16BE(2) & 0x7900) | 0x0080 | rcode, 2);
  header.fill(0, 4, 12); // no question, answer, authority or additional records
  return header;
}
