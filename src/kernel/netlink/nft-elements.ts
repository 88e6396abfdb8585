import { constants as osConstants } from 'node:os';
import nl from 'netlink';
import { ipv4Bytes, parseIpv4 } from '../../common/ipv4.js';
import type { NftElementChange, NftKey, NftKeyField } from '../ops.js';

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

/** Applies `change` in the namespace this process's main thread is in (the host's). */
export function applyElements(change: NftElementChange): Promise<void> {
  socket ??= new NfTablesSocket();
  return socket.transact(change);
}

// ---- wire format ----------------------------------------------------------------------

const NETLINK_NETFILTER = 12;
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
const IFNAMSIZ = 16;

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

function errnoName(errno: number): string {
  const name = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0];
  return name ?? `errno ${errno}`;
}

// ---- the socket -----------------------------------------------------------------------

interface Pending {
  /** The messages flagged ACK not answered yet. */
  readonly waiting: Set<number>;
  /** BATCH_BEGIN and BATCH_END: answered only when the whole batch is refused (no ACKs follow then). */
  readonly frame: readonly number[];
  refused: number;
  readonly timer: NodeJS.Timeout;
  readonly done: (err?: Error) => void;
}

/** An answer that never comes (it cannot, short of a kernel bug) fails the change rather than the engine's queue. */
const ANSWER_TIMEOUT_MS = 5000;

/**
 * One NETLINK_NETFILTER socket, bound in the namespace it was made in, kept for the
 * process (close-on-exec, and it never keeps the process alive). The kernel handles a
 * batch inside the send call; the answers are read as they come.
 */
class NfTablesSocket {
  private readonly raw = new nl.RawNetlinkSocket(NETLINK_NETFILTER);
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 1;

  constructor() {
    this.raw.unref();
    this.raw.on('message', (datagram: Buffer) => this.answered(datagram));
  }

  transact(change: NftElementChange): Promise<void> {
    const begin = this.nextSeq;
    const { bytes, acks } = encodeBatch(change, begin);
    const end = begin + acks + 1;
    this.nextSeq = (end + 1) >>> 0 || 1;
    if (acks === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry: Pending = {
        waiting: new Set(Array.from({ length: acks }, (_, i) => begin + 1 + i)),
        frame: [begin, end],
        refused: 0,
        timer: setTimeout(() => this.finish(entry, new Error(`nf_tables did not answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS),
        done: (err) => (err ? reject(err) : resolve()),
      };
      for (const seq of [...entry.waiting, ...entry.frame]) this.pending.set(seq, entry);
      // Waiting for the answers keeps the process alive.
      this.raw.ref();
      this.raw.send(bytes, {}, (err) => {
        if (err) this.finish(entry, err);
      });
    });
  }

  private answered(datagram: Buffer): void {
    for (const [seq, errno] of parseAnswers(datagram)) {
      const entry = this.pending.get(seq);
      if (!entry) continue;
      entry.waiting.delete(seq);
      if (errno !== 0 && entry.refused === 0) entry.refused = errno;
      // The batch itself refused (no permission, a malformed frame): no ACK follows.
      const whole = entry.frame.includes(seq) && errno !== 0;
      if (entry.waiting.size === 0 || whole) this.finish(entry, entry.refused === 0 ? undefined : refusal(entry.refused));
    }
  }

  private finish(entry: Pending, err?: Error): void {
    clearTimeout(entry.timer);
    for (const [seq, holder] of this.pending) if (holder === entry) this.pending.delete(seq);
    if (this.pending.size === 0) this.raw.unref();
    entry.done(err);
  }
}

function refusal(errno: number): Error {
  return errno === osConstants.errno.ENOENT ? new NftSetMissing(`a set or table is missing (${errnoName(errno)})`) : new NftElementsRefused(errno);
}

let socket: NfTablesSocket | undefined;
