import { constants as osConstants } from 'node:os';
import { errnoName } from '../libc.js';
import { answerErrno, NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR, SyncNetlinkSocket } from './sync-socket.js';

/**
 * nf_tables transactions sent by this process on a NETLINK_NETFILTER socket: the messages
 * `nft -f` sends, without libnftables parsing text and first reading the tables, chains and
 * sets of the ruleset into its cache (most of a set element change's cost through
 * libnftables, and growing with the ruleset). The messages are the callers'
 * (nft-elements.ts, nft-chains.ts); this module frames them as one batch and reads the
 * kernel's verdict.
 *
 * A transaction is a batch in one datagram: BATCH_BEGIN, the messages, BATCH_END. The
 * kernel applies all of it or none, and answers every message flagged ACK: 0, or the errno
 * that aborted it.
 */

/** An object the transaction names (table, chain, set) does not exist (ENOENT): nothing was applied; the caller runs its script, which declares them. */
export class NftObjectMissing extends Error {}

/** The kernel refused the transaction (nothing of it applied). */
export class NftRefused extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`nf_tables refused ${what}: ${errnoName(errno)}`);
  }
}

/** One message of a batch: its nf_tables type (NFT_MSG_*), flags beyond REQUEST and ACK, family and attributes. */
export interface NftMessage {
  readonly type: number;
  readonly flags: number;
  readonly family: number;
  readonly attrs: readonly NlAttr[];
}

/** Applies `messages` as one transaction in the namespace this thread's first transaction ran in (the daemon's thread's: the host's). `what` names the change in errors. */
export function transact(messages: readonly NftMessage[], what: string): void {
  if (messages.length === 0) return;
  socket ??= new NfTablesSocket();
  socket.transact(messages, what);
}

// ---- wire format ----------------------------------------------------------------------

/** linux/netlink.h: nfnetlink's protocol (nf_tables messages, and what `nft monitor` listens to). */
export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
const NLA_F_NESTED = 0x8000;
/** nlmsghdr (16 bytes) and nfgenmsg (4). */
const NFNL_HEADER = 20;
/** linux/netfilter.h: the families of nf_tables tables. */
export const NFPROTO = { ip: 2, bridge: 7 } as const;

/**
 * The batch for `messages`, numbered from `firstSeq`: BATCH_BEGIN, each message (ACK asked),
 * BATCH_END, written into one buffer. Returns it and the sequence numbers whose answers to
 * wait for.
 */
export function encodeBatch(messages: readonly NftMessage[], firstSeq: number): { readonly bytes: Buffer; readonly acked: readonly number[] } {
  const bytes = Buffer.alloc(messages.reduce((total, m) => total + NFNL_HEADER + sizeOf(m.attrs), 2 * NFNL_HEADER));
  let seq = firstSeq;
  let at = writeHeader(bytes, 0, NFNL_HEADER, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES);
  const acked: number[] = [];
  for (const m of messages) {
    acked.push(seq);
    const length = NFNL_HEADER + sizeOf(m.attrs);
    writeAttrs(bytes, writeHeader(bytes, at, length, (NFNL_SUBSYS_NFTABLES << 8) | m.type, m.flags | NLM_F_REQUEST | NLM_F_ACK, seq++, m.family, 0), m.attrs);
    at += length;
  }
  writeHeader(bytes, at, NFNL_HEADER, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES);
  return { bytes, acked };
}

/** nlmsghdr + nfgenmsg (family, version 0, res_id big-endian); returns where the attributes start. */
function writeHeader(bytes: Buffer, at: number, length: number, type: number, flags: number, seq: number, family: number, resId: number): number {
  bytes.writeUInt32LE(length, at);
  bytes.writeUInt16LE(type, at + 4);
  bytes.writeUInt16LE(flags, at + 6);
  bytes.writeUInt32LE(seq >>> 0, at + 8);
  bytes.writeUInt8(family, at + 16);
  bytes.writeUInt16BE(resId, at + 18);
  return at + NFNL_HEADER;
}

/**
 * A netlink attribute, written when its message is (a batch is written into one buffer: a
 * change of a few networks has hundreds of attributes, and a buffer for each cost more than
 * the kernel's work on them). Its payload is bytes, a string (NUL-terminated), a 32-bit
 * big-endian number (nf_tables' numeric attributes), or nested attributes.
 */
export type NlAttr =
  | { readonly type: number; readonly bytes: Buffer }
  | { readonly type: number; readonly text: string }
  | { readonly type: number; readonly u32: number }
  /** `size`: the children's bytes, counted when the attribute is made (bottom-up, once). */
  | { readonly type: number; readonly nested: readonly NlAttr[]; readonly size: number };

export function attr(type: number, bytes: Buffer): NlAttr {
  return { type, bytes };
}

export function stringAttr(type: number, text: string): NlAttr {
  return { type, text };
}

export function u32Attr(type: number, value: number): NlAttr {
  return { type, u32: value };
}

export function nested(type: number, children: readonly NlAttr[]): NlAttr {
  return { type: type | NLA_F_NESTED, nested: children, size: sizeOf(children) };
}

/** An attribute's payload length, unpadded. */
function payloadSize(a: NlAttr): number {
  if ('bytes' in a) return a.bytes.length;
  if ('text' in a) return Buffer.byteLength(a.text) + 1;
  if ('u32' in a) return 4;
  return a.size;
}

/** The bytes of `attrs`, each padded to 4. */
function sizeOf(attrs: readonly NlAttr[]): number {
  let total = 0;
  for (const a of attrs) total += (4 + payloadSize(a) + 3) & ~3;
  return total;
}

/** Writes `attrs` at `at` (the buffer is zero-filled, so padding is written by skipping it); returns where they end. */
function writeAttrs(bytes: Buffer, at: number, attrs: readonly NlAttr[]): number {
  for (const a of attrs) {
    const length = 4 + payloadSize(a);
    bytes.writeUInt16LE(length, at);
    bytes.writeUInt16LE(a.type, at + 2);
    if ('bytes' in a) a.bytes.copy(bytes, at + 4);
    else if ('text' in a) bytes.write(a.text, at + 4);
    else if ('u32' in a) bytes.writeUInt32BE(a.u32 >>> 0, at + 4);
    else writeAttrs(bytes, at + 4, a.nested);
    at += (length + 3) & ~3;
  }
  return at;
}

// linux/netfilter/nf_tables.h: data as a verdict, and the verdicts (linux/netfilter.h's NF_DROP, NF_ACCEPT; nf_tables' own jump).
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NFT_JUMP = -3;

/** NFTA_DATA_VERDICT (a set element's data, an immediate's): the code (be32, two's complement) and, for a jump, its chain. */
export function verdictData(code: number, chain?: string): NlAttr {
  return nested(NFTA_DATA_VERDICT, [u32Attr(NFTA_VERDICT_CODE, code), ...(chain === undefined ? [] : [stringAttr(NFTA_VERDICT_CHAIN, chain)])]);
}

// ---- the socket -----------------------------------------------------------------------

/**
 * One NETLINK_NETFILTER socket, opened where it was first used (the daemon's thread: the
 * host's namespace), kept for the process, close-on-exec, used synchronously
 * (sync-socket.ts): the kernel handles a batch inside the send call.
 */
class NfTablesSocket {
  private readonly socket = new SyncNetlinkSocket(NETLINK_NETFILTER, 'nf_tables');
  private nextSeq = 1;

  transact(messages: readonly NftMessage[], what: string): void {
    const begin = this.nextSeq;
    const { bytes, acked } = encodeBatch(messages, begin);
    const end = begin + acked.length + 1;
    this.nextSeq = (end + 1) >>> 0 || 1;
    this.socket.send(bytes);
    const waiting = new Set(acked);
    let refused = 0;
    while (waiting.size > 0) {
      // Another batch's answer (one an earlier failure left unread) says nothing of this one.
      for (const answer of this.socket.receive((seq) => seq >= begin && seq <= end)) {
        if (answer.type !== NLMSG_ERROR) continue;
        const code = answerErrno(answer.data);
        if (code !== 0 && refused === 0) refused = code;
        // The batch itself refused (no permission, a malformed frame): no ACK follows.
        if (code !== 0 && (answer.seq === begin || answer.seq === end)) waiting.clear();
        waiting.delete(answer.seq);
      }
    }
    if (refused === osConstants.errno.ENOENT) throw new NftObjectMissing(`a table, chain or set ${what} names is missing (${errnoName(refused)})`);
    if (refused !== 0) throw new NftRefused(refused, what);
  }
}

let socket: NfTablesSocket | undefined;
