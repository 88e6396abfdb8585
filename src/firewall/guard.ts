import type { NftApply, NftElementChange, NftKey } from '../kernel/ops.js';
import type { PresenceCheck } from './backend.js';

/**
 * Anti-spoofing (part 9): a container sends only with its own MAC and IPv4 address. A
 * bridge-family nftables table, the same with either --firewall backend (frames between
 * a bridge's ports never pass the ip family's hooks), checks every frame a container's
 * veth brings onto its bridge:
 *  - IPv4 and ARP must carry the endpoint's MAC and address (`guarded`);
 *  - anything else (IPv6 neighbour discovery, ...) at least its MAC (`guarded_macs`);
 *  - frames from ports berth does not guard (another tool's, the bridge itself) pass.
 * Per-container changes are set elements (O(the change)); the table is written whole at
 * start and by drift repair.
 */
export const GUARD_TABLE = 'berth';

/** A veth endpoint on a Linux bridge: its host-side port and the addresses it may send with. */
export interface GuardedEndpoint {
  readonly hostIfname: string;
  readonly mac: string;
  readonly address: string;
}

/** Each set: its name, its type, an endpoint's element in nft's words and as the key the kernel stores. */
const SETS = [
  ['guarded_ports', 'ifname', (e: GuardedEndpoint) => `"${e.hostIfname}"`, (e: GuardedEndpoint): NftKey => [{ type: 'ifname', value: e.hostIfname }]],
  [
    'guarded',
    'ifname . ether_addr . ipv4_addr',
    (e: GuardedEndpoint) => `"${e.hostIfname}" . ${e.mac} . ${e.address}`,
    (e: GuardedEndpoint): NftKey => [{ type: 'ifname', value: e.hostIfname }, { type: 'ether_addr', value: e.mac }, { type: 'ipv4_addr', value: e.address }],
  ],
  [
    'guarded_macs',
    'ifname . ether_addr',
    (e: GuardedEndpoint) => `"${e.hostIfname}" . ${e.mac}`,
    (e: GuardedEndpoint): NftKey => [{ type: 'ifname', value: e.hostIfname }, { type: 'ether_addr', value: e.mac }],
  ],
] as const;

const RULES = [
  'iifname != @guarded_ports accept',
  'ether type arp iifname . ether saddr . arp saddr ip @guarded accept',
  'ether type ip iifname . ether saddr . ip saddr @guarded accept',
  'ether type != { ip, arp } iifname . ether saddr @guarded_macs accept',
  'drop',
];

function guardTable(guarded: readonly GuardedEndpoint[]): string {
  const sets = SETS.flatMap(([name, type, element]) => [
    `\tset ${name} {`,
    `\t\ttype ${type}`,
    ...(guarded.length > 0 ? [`\t\telements = { ${guarded.map(element).join(',\n\t\t\t     ')} }`] : []),
    '\t}',
  ]);
  const chain = ['\tchain spoofing {', '\t\ttype filter hook prerouting priority filter; policy accept;', ...RULES.map((r) => `\t\t${r}`), '\t}'];
  return [`table bridge ${GUARD_TABLE} {`, ...sets, ...chain, '}', ''].join('\n');
}

function replaceScript(guarded: readonly GuardedEndpoint[]): string {
  return `add table bridge ${GUARD_TABLE}\ndelete table bridge ${GUARD_TABLE}\n${guardTable(guarded)}`;
}

/** The guard table exactly for `after`; undone to `before` (or removed when undefined). */
export function replaceGuards(description: string, after: readonly GuardedEndpoint[], before?: readonly GuardedEndpoint[]): NftApply {
  return { kind: 'nft-apply', description, script: replaceScript(after), undoScript: before ? replaceScript(before) : removeGuardsScript() };
}

export function removeGuardsScript(): string {
  return `add table bridge ${GUARD_TABLE}\ndelete table bridge ${GUARD_TABLE}\n`;
}

/**
 * Elements added and removed. Sets are declared first (a no-op when they exist) and each
 * removed element is added before its deletion, so the change applies whether or not
 * someone deleted the table meanwhile (nft's `delete element` fails on a missing one);
 * drift repair then puts the chain back.
 */
function elementsScript(added: readonly GuardedEndpoint[], removed: readonly GuardedEndpoint[]): string {
  const lines = [`add table bridge ${GUARD_TABLE}`, ...SETS.map(([name, type]) => `add set bridge ${GUARD_TABLE} ${name} { type ${type}; }`)];
  for (const [name, , element] of SETS) {
    if (removed.length > 0) {
      const elements = removed.map(element).join(', ');
      lines.push(`add element bridge ${GUARD_TABLE} ${name} { ${elements} }`, `delete element bridge ${GUARD_TABLE} ${name} { ${elements} }`);
    }
    if (added.length > 0) lines.push(`add element bridge ${GUARD_TABLE} ${name} { ${added.map(element).join(', ')} }`);
  }
  return `${lines.join('\n')}\n`;
}

/** The same change as elementsScript's, as keys (what the netlink executor sends itself). */
function elementChange(added: readonly GuardedEndpoint[], removed: readonly GuardedEndpoint[]): NftElementChange {
  return { family: 'bridge', table: GUARD_TABLE, sets: SETS.map(([set, , , key]) => ({ set, add: added.map(key), remove: removed.map(key) })) };
}

/** Endpoints start or stop being guarded, undone by the opposite change. */
export function changeGuards(description: string, change: { readonly added?: readonly GuardedEndpoint[]; readonly removed?: readonly GuardedEndpoint[] }): NftApply {
  const added = change.added ?? [];
  const removed = change.removed ?? [];
  return { kind: 'nft-apply', description, script: elementsScript(added, removed), undoScript: elementsScript(removed, added), elements: elementChange(added, removed) };
}

/** The chain is there and guards each of `guarded` (drift repair). */
export function guardPresence(guarded: readonly GuardedEndpoint[]): PresenceCheck {
  return { command: ['nft', 'list', 'table', 'bridge', GUARD_TABLE], mustContain: ['chain spoofing', ...guarded.map((e) => `"${e.hostIfname}" . ${e.mac} . ${e.address}`)] };
}
