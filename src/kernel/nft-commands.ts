/**
 * nftables chain changes as structure: the chains, rules and verdict-map elements berth's
 * firewall adds and deletes per network. `renderNftCommands` gives the text `nft -f` takes
 * (an op's script: what libnftables applies, what explain shows), and the netlink executor
 * sends the same commands as nf_tables messages of its own (netlink/nft-chains.ts). Both come
 * from this one form, so they cannot say different things.
 *
 * The forms are the few berth's rules use, each rendered as `nft list` prints it back.
 */

export type NftInterface = 'iifname' | 'oifname';

export type NftMatch =
  /** `iifname "br0"`, `oifname != "br0"`. */
  | { readonly kind: 'ifname'; readonly on: NftInterface; readonly op: 'eq' | 'neq'; readonly name: string }
  /** `oifname @bridges`: the name is an element of a set of names. */
  | { readonly kind: 'ifname-in-set'; readonly on: NftInterface; readonly set: string }
  /** `ct state established,related`: any of them. */
  | { readonly kind: 'ct-state'; readonly any: readonly NftCtState[] }
  /** `ct status dnat`: any of them. */
  | { readonly kind: 'ct-status'; readonly any: readonly NftCtStatus[] }
  /** `ip saddr 10.1.0.0/16` (a network address with its prefix; /32 is printed without it). */
  | { readonly kind: 'ip-saddr'; readonly cidr: string }
  | { readonly kind: 'icmp-echo-request' };

export type NftCtState = 'invalid' | 'established' | 'related' | 'new' | 'untracked';
export type NftCtStatus = 'snat' | 'dnat';

export type NftVerdict =
  | { readonly kind: 'accept' | 'drop' | 'masquerade' }
  /** `iifname vmap @from_bridge`: the verdict the map holds for the packet's interface (none: the chain goes on). */
  | { readonly kind: 'vmap'; readonly on: NftInterface; readonly map: string };

export interface NftRule {
  readonly match: readonly NftMatch[];
  /** `meta mark set meta mark | BITS`: bits set in the packet's mark, the others kept. */
  readonly markOr?: number;
  readonly verdict: NftVerdict;
}

/** One command of a transaction, in a table of berth's; elements are keyed by interface name. */
export type NftCommand =
  | { readonly kind: 'add-chain' | 'flush-chain' | 'delete-chain'; readonly chain: string }
  | { readonly kind: 'add-rule'; readonly chain: string; readonly rule: NftRule }
  /** An element of a set of names, or of a verdict map (then `jump` is its chain). Adding one there already is no error. */
  | { readonly kind: 'add-element'; readonly set: string; readonly ifname: string; readonly jump?: string }
  | { readonly kind: 'delete-element'; readonly set: string; readonly ifname: string };

/** Commands applied in order as one transaction, in table `table` of family `family`, whose sets, maps and chains outside the commands exist. */
export interface NftChainChange {
  readonly family: 'ip';
  readonly table: string;
  readonly commands: readonly NftCommand[];
}

export function renderNftCommands(change: NftChainChange): string[] {
  const t = `${change.family} ${change.table}`;
  return change.commands.map((c) => {
    switch (c.kind) {
      case 'add-chain':
        return `add chain ${t} ${c.chain}`;
      case 'flush-chain':
        return `flush chain ${t} ${c.chain}`;
      case 'delete-chain':
        return `delete chain ${t} ${c.chain}`;
      case 'add-rule':
        return `add rule ${t} ${c.chain} ${renderNftRule(c.rule)}`;
      case 'add-element':
        return `add element ${t} ${c.set} { "${c.ifname}"${c.jump === undefined ? '' : ` : jump ${c.jump}`} }`;
      case 'delete-element':
        return `delete element ${t} ${c.set} { "${c.ifname}" }`;
    }
  });
}

export function renderNftRule(rule: NftRule): string {
  const mark = rule.markOr === undefined ? [] : [`meta mark set meta mark | 0x${rule.markOr.toString(16)}`];
  return [...rule.match.map(renderMatch), ...mark, renderVerdict(rule.verdict)].join(' ');
}

function renderMatch(m: NftMatch): string {
  switch (m.kind) {
    case 'ifname':
      return `${m.on} ${m.op === 'neq' ? '!= ' : ''}"${m.name}"`;
    case 'ifname-in-set':
      return `${m.on} @${m.set}`;
    case 'ct-state':
      return `ct state ${m.any.join(',')}`;
    case 'ct-status':
      return `ct status ${m.any.join(',')}`;
    case 'ip-saddr':
      return `ip saddr ${m.cidr.endsWith('/32') ? m.cidr.slice(0, -3) : m.cidr}`;
    case 'icmp-echo-request':
      return 'icmp type echo-request';
  }
}

function renderVerdict(v: NftVerdict): string {
  return v.kind === 'vmap' ? `${v.on} vmap @${v.map}` : v.kind;
}
