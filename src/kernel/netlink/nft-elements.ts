import { constants as osConstants } from 'node:os';
import { ipv4Bytes, parseIpv4 } from '../../common/ipv4.js';
import type { NftElementChange, NftKey, NftKeyField } from '../ops.js';
import { AF_NETLINK, errno, errnoName, IFNAMSIZ, MSG_DONTWAIT, O_CLOEXEC, SOCK_RAW, sockets } from '../libc.js';

/**
 * Set elements added and removed as one nf_tables transaction, sent by this process on a
 * NETLINK_NETFILTER socket: the messages `nft -f` sends for `add element` and `delete
 * element`, without libnftables first reading every table, chain and set of the ruleset
 * into its cache. That reading is most of an element change's cost through libnftables, and
 * it grows with the ruleset: 0.15 ms with the guard table alone, 0.3 ms beside a daemon with
 * a few networks and published ports, 0.65 ms a container start at 1,000 containers.
 *
 * A transaction is a batch in one datagram: BATCH_BEGIN, one NEWSETELEM per set with
 * elements to add, then one DELSETELEM per set with elements to remove (each added first,
 * so a missing one is no error, as in the script), BATCH_END. The kernel applies all of it
 * or none, and answers every message flagged ACK: 0, or the errno that aborted it.
 */

/** A set or table named in the change does not exist (ENOENT): the caller runs the script, which declares them. */
export class NftSetMissing extends Error {}

/** The kernel refused the transaction (nothing of it applied). */
export class NftElementsRefused extends Error {
  constructor(readonly errno: number) {
    super(`nf_tables refused the set elements: ${errnoName(errno)}`);
  }
}

/** Applies `change` in the namespace the first change was applied in (the daemon's thread's: the host's). */
export function applyElements(change: NftElementChange): void {
  socket ??= new NfTablesSocket();
  socket.transact(change);
}

// ---- wire format ----------------------------------------------------------------------

/** linux/netlink.h: nfnetlink's protocol (nf_tables messages, and what `nft monitor` listens to). */
export const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_DATA_VALUE = 1;
const NFPROTO = { bridge: 7 } as const;

/**
 * An element's key as nf_tables stores it: the fields one after another, each padded to
 * a multiple of 4 bytes (a register's width): an interface name is 16 bytes, zero-filled;
 * a MAC 6 bytes and 2 of padding; an IPv4 address 4 bytes in network order.
 */
export function encodeKey(key: NftKey): Buffer {
  return Buffer.concat(key.map(encodeField));
}

function encodeField(field: NftKeyField): Buffer {
  switch (field.type) {
    case 'ifname': {
      const name = Buffer.from(field.value);
      if (name.length >= IFNAMSIZ) throw new Error(`interface name "${field.value}" is longer than ${IFNAMSIZ - 1} bytes`);
      return Buffer.concat([name, Buffer.alloc(IFNAMSIZ - name.length)]);
    }
    case 'ether_addr': {
      const bytes = field.value.split(':').map((h) => parseInt(h, 16));
      if (bytes.length !== 6 || bytes.some((b) => !(b >= 0 && b <= 255))) throw new Error(`"${field.value}" is not a MAC address`);
      return Buffer.from([...bytes, 0, 0]);
    }
    case 'ipv4_addr':
      return Buffer.from(ipv4Bytes(parseIpv4(field.value)));
  }
}

/** The batch for `change`, its messages numbered from `firstSeq`; `acks` = how many answers to wait for. */
export function encodeBatch(change: NftElementChange, firstSeq: number): { readonly bytes: Buffer; readonly acks: number } {
  let seq = firstSeq;
  const family = NFPROTO[change.family];
  const messages = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, Buffer.alloc(0))];
  const elementsMessage = (type: number, flags: number, set: string, keys: readonly NftKey[]) => {
    const elements = keys.map((key) => nested(NFTA_LIST_ELEM, [nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, encodeKey(key))])]));
    const body = Buffer.concat([attr(NFTA_SET_ELEM_LIST_TABLE, cString(change.table)), attr(NFTA_SET_ELEM_LIST_SET, cString(set)), nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements)]);
    messages.push(message((NFNL_SUBSYS_NFTABLES << 8) | type, flags | NLM_F_REQUEST | NLM_F_ACK, seq++, family, 0, body));
  };
  for (const s of change.sets) if (s.add.length + s.remove.length > 0) elementsMessage(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.set, [...s.add, ...s.remove]);
  for (const s of change.sets) if (s.remove.length > 0) elementsMessage(NFT_MSG_DELSETELEM, 0, s.set, s.remove);
  const acks = messages.length - 1;
  messages.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq++, 0, NFNL_SUBSYS_NFTABLES, Buffer.alloc(0)));
  return { bytes: Buffer.concat(messages), acks };
}

/** nlmsghdr + nfgenmsg (family, version 0, res_id big-endian) + attributes. */
function message(type: number, flags: number, seq: number, family: number, resId: number, attrs: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt32LE(20 + attrs.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(flags, 6);
  header.writeUInt32LE(seq >>> 0, 8);
  header.writeUInt32LE(0, 12);
  header.writeUInt8(family, 16);
  header.writeUInt8(0, 17);
  header.writeUInt16BE(resId, 18);
  return Buffer.concat([header, attrs]);
}

function attr(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + payload.length, 0);
  header.writeUInt16LE(type, 2);
  return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

function nested(type: number, children: readonly Buffer[]): Buffer {
  return attr(type | NLA_F_NESTED, Buffer.concat(children));
}

function cString(text: string): Buffer {
  return Buffer.concat([Buffer.from(text), Buffer.alloc(1)]);
}

/** The errno of each NLMSG_ERROR answer in a datagram, by sequence number (0 = done). */
export function parseAnswers(datagram: Buffer): Map<number, number> {
  const answers = new Map<number, number>();
  for (let at = 0; at + 16 <= datagram.length; ) {
    const length = datagram.readUInt32LE(at);
    if (length < 16) break;
    if (datagram.readUInt16LE(at + 4) === NLMSG_ERROR && length >= 20) answers.set(datagram.readUInt32LE(at + 8), Math.abs(datagram.readInt32LE(at + 16)));
    at += (length + 3) & ~3;
  }
  return answers;
}

// ---- the socket -----------------------------------------------------------------------

const RECEIVE_BYTES = 8192;

/**
 * One NETLINK_NETFILTER socket, opened where it was first used (the daemon's thread: the
 * host's namespace), kept for the process, close-on-exec. Used synchronously: the kernel
 * handles a batch inside the send call and has queued every answer when it returns, so
 * they are read at once (without waiting: an answer missing then would never come) rather
 * than after a turn of the event loop.
 */
class NfTablesSocket {
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(RECEIVE_BYTES);
  private nextSeq = 1;

  constructor() {
    this.fd = sockets.socket(AF_NETLINK, SOCK_RAW | O_CLOEXEC, NETLINK_NETFILTER) as number;
    if (this.fd < 0) throw new Error(`cannot open a netfilter netlink socket: ${errnoName(errno())}`);
  }

  transact(change: NftElementChange): void {
    const begin = this.nextSeq;
    const { bytes, acks } = encodeBatch(change, begin);
    const end = begin + acks + 1;
    this.nextSeq = (end + 1) >>> 0 || 1;
    if (acks === 0) return;
    if ((sockets.send(this.fd, bytes, bytes.length, 0) as number) !== bytes.length) throw new Error(`sending to nf_tables failed: ${errnoName(errno())}`);
    const waiting = new Set(Array.from({ length: acks }, (_, i) => begin + 1 + i));
    let refused = 0;
    while (waiting.size > 0) {
      const got = sockets.recv(this.fd, this.buffer, RECEIVE_BYTES, MSG_DONTWAIT) as number;
      if (got < 0) throw new Error(`nf_tables left ${waiting.size} of ${acks} answers out: ${errnoName(errno())}`);
      for (const [seq, code] of parseAnswers(this.buffer.subarray(0, got))) {
        // Another batch's answer (one an earlier failure left unread) says nothing of this one.
        if (seq < begin || seq > end) continue;
        if (code !== 0 && refused === 0) refused = code;
        // The batch itself refused (no permission, a malformed frame): no ACK follows.
        if (code !== 0 && (seq === begin || seq === end)) waiting.clear();
        waiting.delete(seq);
      }
    }
    if (refused === osConstants.errno.ENOENT) throw new NftSetMissing(`a set or table is missing (${errnoName(refused)})`);
    if (refused !== 0) throw new NftElementsRefused(refused);
  }
}

let socket: NfTablesSocket | undefined;
