import { endianness } from 'node:os';
import { ipv4Bytes, parseCidr } from '../../common/ipv4.js';
import type { NftChainChange, NftCommand, NftCtState, NftCtStatus, NftInterface, NftMatch, NftRule } from '../nft-commands.js';
import { attr, NF_ACCEPT, NF_DROP, NFPROTO, nested, NLM_F_APPEND, NLM_F_CREATE, stringAttr, transact, u32Attr, verdictData, type NftMessage, type NlAttr } from './nf-tables-socket.js';
import { encodeKey, setElementsMessage } from './nft-elements.js';

/**
 * A chain change (nft-commands.ts) as one nf_tables transaction of berth's own: the
 * messages `nft -f` sends for the same script, rule by rule the expressions `nft
 * --debug=netlink` shows for it, so `nft list` prints back what the script says, without
 * libnftables parsing and evaluating the text and reading the ruleset into its cache first
 * (in the daemon, a network create's transaction took 1.1-1.6 ms through libnftables and
 * takes 1.0-1.15 this way, ~0.5 of it the kernel's commit; docs/decisions.md).
 *
 * Objects the change names but does not add (the table, its sets and maps, the base
 * chains) must exist: when one does not, NftObjectMissing is thrown, nothing is applied,
 * and the caller runs the script, which declares them.
 */
export function applyChainChange(change: NftChainChange): void {
  transact(chainChangeMessages(change), 'the chain change');
}

export function chainChangeMessages(change: NftChainChange): NftMessage[] {
  const family = NFPROTO[change.family];
  return change.commands.map((c) => commandMessage(family, change.table, c));
}

// linux/netfilter/nf_tables.h
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_DELCHAIN = 5;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_DELRULE = 8;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_EXPRESSIONS = 4;
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFT_REG_VERDICT = 0;
const NFT_REG_1 = 1;
const META = { dreg: 1, key: 2, sreg: 3, mark: 3, iifname: 6, oifname: 7, l4proto: 16 } as const;
const CMP = { sreg: 1, op: 2, data: 3, eq: 0, neq: 1 } as const;
const LOOKUP = { set: 1, sreg: 2, dreg: 3 } as const;
const BITWISE = { sreg: 1, dreg: 2, len: 3, mask: 4, xor: 5 } as const;
const CT = { dreg: 1, key: 2, state: 0, status: 2 } as const;
const PAYLOAD = { dreg: 1, base: 2, offset: 3, len: 4, network: 1, transport: 2 } as const;
const IMMEDIATE = { dreg: 1, data: 2 } as const;
/** linux/netfilter/nf_conntrack_common.h: NF_CT_STATE_BIT(ctinfo), and IPS_* status bits. */
const CT_STATE_BITS: Record<NftCtState, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const CT_STATUS_BITS: Record<NftCtStatus, number> = { snat: 0x10, dnat: 0x20 };
const IP_SADDR_OFFSET = 12;
const IPPROTO_ICMP = 1;
const ICMP_ECHO_REQUEST = 8;

function commandMessage(family: number, table: string, c: NftCommand): NftMessage {
  const chainAttrs = (chain: string) => [stringAttr(NFTA_CHAIN_TABLE, table), stringAttr(NFTA_CHAIN_NAME, chain)];
  const ruleAttrs = (chain: string) => [stringAttr(NFTA_RULE_TABLE, table), stringAttr(NFTA_RULE_CHAIN, chain)];
  switch (c.kind) {
    case 'add-chain':
      return { type: NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, family, attrs: chainAttrs(c.chain) };
    case 'delete-chain':
      return { type: NFT_MSG_DELCHAIN, flags: 0, family, attrs: chainAttrs(c.chain) };
    // A DELRULE naming a chain and no rule handle deletes every rule of the chain.
    case 'flush-chain':
      return { type: NFT_MSG_DELRULE, flags: 0, family, attrs: ruleAttrs(c.chain) };
    case 'add-rule':
      return { type: NFT_MSG_NEWRULE, flags: NLM_F_CREATE | NLM_F_APPEND, family, attrs: [...ruleAttrs(c.chain), nested(NFTA_RULE_EXPRESSIONS, ruleExpressions(c.rule))] };
    case 'add-element':
      return setElementsMessage('add', family, table, c.set, [{ key: [{ type: 'ifname', value: c.ifname }], ...(c.jump === undefined ? {} : { jump: c.jump }) }]);
    case 'delete-element':
      return setElementsMessage('delete', family, table, c.set, [{ key: [{ type: 'ifname', value: c.ifname }] }]);
  }
}

/** A rule's expressions, in the order nft emits them: the matches, the mark, the verdict. */
export function ruleExpressions(rule: NftRule): NlAttr[] {
  const out = rule.match.flatMap(matchExpressions);
  if (rule.markOr !== undefined) {
    const bits = rule.markOr >>> 0;
    out.push(metaLoad(META.mark), bitwise(4, hostU32(~bits), hostU32(bits)), expression('meta', [u32Attr(META.key, META.mark), u32Attr(META.sreg, NFT_REG_1)]));
  }
  const v = rule.verdict;
  if (v.kind === 'vmap') out.push(metaLoad(interfaceKey(v.on)), expression('lookup', [stringAttr(LOOKUP.set, v.map), u32Attr(LOOKUP.sreg, NFT_REG_1), u32Attr(LOOKUP.dreg, NFT_REG_VERDICT)]));
  else if (v.kind === 'masquerade') out.push(expression('masq', []));
  else out.push(expression('immediate', [u32Attr(IMMEDIATE.dreg, NFT_REG_VERDICT), nested(IMMEDIATE.data, [verdictData(v.kind === 'accept' ? NF_ACCEPT : NF_DROP)])]));
  return out;
}

function matchExpressions(m: NftMatch): NlAttr[] {
  switch (m.kind) {
    case 'ifname':
      return [metaLoad(interfaceKey(m.on)), cmp(m.op, encodeKey([{ type: 'ifname', value: m.name }]))];
    case 'ifname-in-set':
      return [metaLoad(interfaceKey(m.on)), expression('lookup', [stringAttr(LOOKUP.set, m.set), u32Attr(LOOKUP.sreg, NFT_REG_1)])];
    case 'ct-state':
      return anyBits(CT.state, m.any.reduce((bits, s) => bits | CT_STATE_BITS[s], 0));
    case 'ct-status':
      return anyBits(CT.status, m.any.reduce((bits, s) => bits | CT_STATUS_BITS[s], 0));
    case 'ip-saddr':
      return sourcePrefix(m.cidr);
    case 'icmp-echo-request':
      return [metaLoad(META.l4proto), cmp('eq', Buffer.from([IPPROTO_ICMP])), payloadLoad(PAYLOAD.transport, 0, 1), cmp('eq', Buffer.from([ICMP_ECHO_REQUEST]))];
  }
}

/** `ct state a,b`: the key's bits masked to the ones named, not zero. */
function anyBits(key: number, bits: number): NlAttr[] {
  return [expression('ct', [u32Attr(CT.key, key), u32Attr(CT.dreg, NFT_REG_1)]), bitwise(4, hostU32(bits), hostU32(0)), cmp('neq', hostU32(0))];
}

/**
 * `ip saddr NET/LEN` as nft compiles it: a prefix of whole bytes loads just those bytes
 * and compares them; any other prefix loads the address, masks it, and compares.
 */
function sourcePrefix(cidr: string): NlAttr[] {
  const { address, prefixLength } = parseCidr(cidr);
  if (prefixLength === 0) throw new Error(`${cidr}: a /0 source matches every packet; berth writes no such rule`);
  const mask = prefixLength === 32 ? 0xffffffff : ~(0xffffffff >>> prefixLength) >>> 0;
  const network = Buffer.from(ipv4Bytes((address & mask) >>> 0));
  if (prefixLength % 8 === 0) return [payloadLoad(PAYLOAD.network, IP_SADDR_OFFSET, prefixLength / 8), cmp('eq', network.subarray(0, prefixLength / 8))];
  return [payloadLoad(PAYLOAD.network, IP_SADDR_OFFSET, 4), bitwise(4, Buffer.from(ipv4Bytes(mask)), Buffer.alloc(4)), cmp('eq', network)];
}

function interfaceKey(on: NftInterface): number {
  return on === 'iifname' ? META.iifname : META.oifname;
}

function metaLoad(key: number): NlAttr {
  return expression('meta', [u32Attr(META.key, key), u32Attr(META.dreg, NFT_REG_1)]);
}

function payloadLoad(base: number, offset: number, length: number): NlAttr {
  return expression('payload', [u32Attr(PAYLOAD.dreg, NFT_REG_1), u32Attr(PAYLOAD.base, base), u32Attr(PAYLOAD.offset, offset), u32Attr(PAYLOAD.len, length)]);
}

function cmp(op: 'eq' | 'neq', data: Buffer): NlAttr {
  return expression('cmp', [u32Attr(CMP.sreg, NFT_REG_1), u32Attr(CMP.op, CMP[op]), nested(CMP.data, [attr(NFTA_DATA_VALUE, data)])]);
}

/** reg 1 = (reg 1 & mask) ^ xor, over `length` bytes. */
function bitwise(length: number, mask: Buffer, xor: Buffer): NlAttr {
  return expression('bitwise', [u32Attr(BITWISE.sreg, NFT_REG_1), u32Attr(BITWISE.dreg, NFT_REG_1), u32Attr(BITWISE.len, length), nested(BITWISE.mask, [attr(NFTA_DATA_VALUE, mask)]), nested(BITWISE.xor, [attr(NFTA_DATA_VALUE, xor)])]);
}

function expression(name: string, data: readonly NlAttr[]): NlAttr {
  return nested(NFTA_LIST_ELEM, [stringAttr(NFTA_EXPR_NAME, name), ...(data.length === 0 ? [] : [nested(NFTA_EXPR_DATA, data)])]);
}

/** The mark, conntrack state and status are compared in the host's byte order. */
function hostU32(value: number): Buffer {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') b.writeUInt32LE(value >>> 0, 0);
  else b.writeUInt32BE(value >>> 0, 0);
  return b;
}
