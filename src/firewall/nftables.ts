import { renderNftCommands, renderNftRule, type NftChainChange, type NftCommand, type NftMatch, type NftRule } from '../kernel/nft-commands.js';
import type { NftApply } from '../kernel/ops.js';
import type { FirewallBackend, PresenceCheck } from './backend.js';
import { ACCEPTED_MARK } from './dockerd.js';
import type { FirewallModel, FirewallNetwork, FirewallPort } from './model.js';

/** berth's own table: berth never touches a rule outside it. */
export const NFT_TABLE = 'berth';

/**
 * Compiles the model into berth's nftables table: the nftables form of what the seeds show
 * dockerd writing with iptables, except that published ports are elements of two maps
 * instead of one rule each, so a new connection costs one hash lookup however many ports
 * are published (research: ~20 µs from 1 to 10,000 ports; one rule per port is 8x slower
 * at 10,000).
 *  - pub_any:  proto . port          -> container ip . port   (ports bound to every address)
 *  - pub_addr: host ip . proto . port -> container ip . port  (ports bound to one address)
 * and a run of consecutive ports that keep their number (`-p 20000-20999:20000-20999`) is
 * one interval element of pub_any_run / pub_addr_run, mapped to the container address
 * alone (DNAT keeps the port): publishing 1,000 such ports is one element, not 1,000.
 * DNAT happens in prerouting (from other hosts and from containers) and in output (from
 * the host itself, 127.0.0.1 included: route_localnet on the bridge lets such packets out).
 * Bridges are isolated from each other: a packet from one berth bridge to another (the
 * `bridges` set) is dropped first, as Docker's isolation stages do.
 * Per bridge network, in chains of its own named after its bridge (from_, to_, input_,
 * nat_to_, nat_from_), which the base chains reach through verdict maps (NETWORK_MAPS):
 *  - forward: replies come back in, published ports are let in, containers may send
 *    anywhere (unless internal), and nothing else is forwarded to the bridge (Docker's
 *    FORWARD policy DROP, which also keeps LAN hosts from routing to container addresses);
 *  - postrouting: MASQUERADE what leaves a bridge subnet by another interface, what the
 *    host sends from 127.0.0.0/8 into the bridge, and hairpin traffic (a container reaching
 *    a published port of its own bridge through a host address).
 */
/**
 * Nothing that arrives on an interface other than lo may be addressed to 127.0.0.0/8.
 * The kernel drops such martians after routing, but DNAT comes first: a LAN neighbour that
 * routes 127.0.0.1 to this host would reach ports published on 127.0.0.1 (moby/moby#45610,
 * Docker's filterPortMappedOnLoopback), and route_localnet on berth's bridges (needed for
 * the host's own 127.0.0.1 -> published port) would let containers reach the host's
 * localhost-only services through their gateway (the CVE-2020-8558 class). Dropped in raw
 * prerouting, before DNAT, on every backend.
 */
const LOOPBACK_GUARD = 'iifname != "lo" ip daddr 127.0.0.0/8 drop';

export function compileNftables(model: FirewallModel): string {
  const dnat = [
    'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @pub_addr',
    'fib daddr type local dnat to ip daddr . meta l4proto . th dport map @pub_addr_run',
    'fib daddr type local dnat ip to meta l4proto . th dport map @pub_any',
    'fib daddr type local dnat to meta l4proto . th dport map @pub_any_run',
  ];
  const { singles, runs } = groupPorts(model.ports);
  const objects = model.networks.map(networkObjects);
  const elementsOf = (name: NetworkMapName) =>
    model.networks.flatMap((net, i) => objects[i]!.elements.filter((e) => e.map === name).map((e) => `"${net.bridge}"${e.jump === undefined ? '' : ` : jump ${e.jump}`}`));
  return [
    `table ip ${NFT_TABLE} {`,
    ...set('bridges', 'ifname', elementsOf('bridges')),
    ...map('pub_any', 'inet_proto . inet_service : ipv4_addr . inet_service', singles.filter((p) => p.hostIp === '').map(anyElement)),
    ...map('pub_addr', 'ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service', singles.filter((p) => p.hostIp !== '').map(addrElement)),
    ...map('pub_any_run', 'inet_proto . inet_service : ipv4_addr', runs.filter((r) => r.hostIp === '').map(anyRunElement), true),
    ...map('pub_addr_run', 'ipv4_addr . inet_proto . inet_service : ipv4_addr', runs.filter((r) => r.hostIp !== '').map(addrRunElement), true),
    ...NETWORK_MAPS.flatMap(([name, type]) => map(name, type, elementsOf(name))),
    ...chain('loopback_guard', 'type filter hook prerouting priority raw; policy accept;', [LOOPBACK_GUARD]),
    ...chain('prerouting', 'type nat hook prerouting priority dstnat; policy accept;', dnat),
    ...chain('output', 'type nat hook output priority -100; policy accept;', dnat),
    ...NETWORK_BASE_CHAINS.flatMap(([name, header, rules]) => chain(name, header, rules.map(renderNftRule))),
    ...objects.flatMap((o) => o.chains.flatMap((c) => chain(c.name, undefined, c.rules.map(renderNftRule)))),
    '}',
    '',
  ].join('\n');
}

/**
 * The base chains hand a packet to its network's own chains through verdict maps keyed by
 * bridge, so a network comes and goes as its own chains and
 * map elements: one small transaction (networkChangeScript), not the whole table again
 * (0.3-0.5 ms against ~1 ms with two networks, and growing with every network and port).
 */
const NETWORK_MAPS: readonly (readonly [NetworkMapName, string])[] = [
  // Forwarded packets from a bridge, and to one; containers' packets to the host itself.
  ['from_bridge', 'ifname : verdict'],
  ['to_bridge', 'ifname : verdict'],
  ['input_from_bridge', 'ifname : verdict'],
  // Source NAT: what enters a bridge, what comes out of one (forwarded: a container's).
  ['nat_to_bridge', 'ifname : verdict'],
  ['nat_from_bridge', 'ifname : verdict'],
];

/** The base chains that hand packets to the networks' chains, with their only rules. */
const NETWORK_BASE_CHAINS: readonly (readonly [string, string, readonly NftRule[]])[] = [
  // Just before iptables' filter chains (priority filter), so dockerd's FORWARD sees berth's mark.
  ['forward', 'type filter hook forward priority filter - 1; policy accept;', [vmap('iifname', 'from_bridge'), vmap('oifname', 'to_bridge')]],
  ['input', 'type filter hook input priority filter; policy accept;', [vmap('iifname', 'input_from_bridge')]],
  ['postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [vmap('oifname', 'nat_to_bridge'), vmap('iifname', 'nat_from_bridge')]],
];

function vmap(on: 'iifname' | 'oifname', map: NetworkMapName): NftRule {
  return { match: [], verdict: { kind: 'vmap', on, map } };
}

type NetworkMapName = 'bridges' | 'from_bridge' | 'to_bridge' | 'input_from_bridge' | 'nat_to_bridge' | 'nat_from_bridge';

/** What one network adds to berth's table: its chains (named after its bridge) and the elements that lead to them. */
interface NetworkObjects {
  readonly chains: readonly { readonly name: string; readonly rules: readonly NftRule[] }[];
  /** Keyed by the network's bridge; in a verdict map, jumping to `jump`. */
  readonly elements: readonly { readonly map: NetworkMapName; readonly jump?: string }[];
}

function networkObjects(net: FirewallNetwork): NetworkObjects {
  const chains: { name: string; rules: NftRule[] }[] = [];
  const elements: { map: NetworkMapName; jump?: string }[] = [{ map: 'bridges' }];
  const add = (map: Exclude<NetworkMapName, 'bridges'>, name: string, rules: NftRule[]) => {
    if (rules.length === 0) return;
    chains.push({ name, rules });
    elements.push({ map, jump: name });
  };
  const { from, to } = forwardRules(net);
  const into = on(net, 'oifname');
  const outOf = on(net, 'iifname');
  // Isolation first (Docker's isolation stages): nothing crosses from one berth bridge to another.
  add('from_bridge', `from_${net.bridge}`, [rule([outOf, on(net, 'oifname', 'neq'), { kind: 'ifname-in-set', on: 'oifname', set: 'bridges' }], 'drop'), ...from]);
  add('to_bridge', `to_${net.bridge}`, to);
  if (!net.hostAccess) add('input_from_bridge', `input_${net.bridge}`, inputRules(net));
  if (!net.internal) {
    const fromSubnet: NftMatch = { kind: 'ip-saddr', cidr: net.subnet };
    add('nat_to_bridge', `nat_to_${net.bridge}`, [rule([into, { kind: 'ip-saddr', cidr: '127.0.0.0/8' }], 'masquerade'), rule([into, fromSubnet, { kind: 'ct-status', any: ['dnat'] }], 'masquerade')]);
    // Keyed by the bridge a packet came out of (Docker keys its rule by source subnet alone,
    // which also catches the host's own packets sent from a bridge address: rare, and not here).
    add('nat_from_bridge', `nat_from_${net.bridge}`, [rule([fromSubnet, on(net, 'oifname', 'neq')], 'masquerade')]);
  }
  return { chains, elements };
}

/** `iifname "BRIDGE"` (or `!=`, or oifname). */
function on(net: FirewallNetwork, key: 'iifname' | 'oifname', op: 'eq' | 'neq' = 'eq'): NftMatch {
  return { kind: 'ifname', on: key, op, name: net.bridge };
}

function rule(match: NftMatch[], verdict: 'accept' | 'drop' | 'masquerade', markOr?: number): NftRule {
  return { match, verdict: { kind: verdict }, ...(markOr === undefined ? {} : { markOr }) };
}

/**
 * Every accept marks the packet, for dockerd's FORWARD chain to let it through too
 * (firewall/dockerd.ts). `from`: what comes out of the bridge; `to`: what goes into it.
 */
function forwardRules(net: FirewallNetwork): { from: NftRule[]; to: NftRule[] } {
  const into = on(net, 'oifname');
  const outOf = on(net, 'iifname');
  const accept = (match: NftMatch[]) => rule(match, 'accept', ACCEPTED_MARK);
  if (net.internal) return { from: [accept([outOf, into]), rule([outOf], 'drop')], to: [rule([into], 'drop')] };
  return {
    from: [accept([outOf])],
    to: [accept([into, { kind: 'ct-state', any: ['established', 'related'] }]), accept([into, { kind: 'ct-status', any: ['dnat'] }]), rule([into], 'drop')],
  };
}

/** Containers to the host itself: replies and ping only (see FirewallNetwork.hostAccess). */
function inputRules(net: FirewallNetwork): NftRule[] {
  const outOf = on(net, 'iifname');
  return [rule([outOf, { kind: 'ct-state', any: ['established', 'related'] }], 'accept'), rule([outOf, { kind: 'icmp-echo-request' }], 'accept'), rule([outOf], 'drop')];
}

/**
 * Networks added to and removed from berth's table, as one transaction. It holds whatever
 * state berth's table is in: the sets, maps and base chains it needs are declared (`add` of
 * what exists changes nothing) and the base chains' rules written again, and a removed
 * network's chains and elements are added before they are deleted (deleting what is not
 * there fails the whole transaction). So a network still comes and goes right after someone
 * deleted the table (`nft flush ruleset`); drift repair restores the rest.
 *
 * `chains` is the same change without the declarations, for an executor to send as
 * nf_tables messages of its own (without libnftables' parsing and cache; docs/decisions.md);
 * it needs the table, its sets, maps and base chains to exist, and the script runs when one
 * does not.
 */
export function networkChange(added: readonly FirewallNetwork[], removed: readonly FirewallNetwork[]): { script: string; chains: NftChainChange } {
  const t = `ip ${NFT_TABLE}`;
  const declarations: string[] = [`add table ${t}`, `add set ${t} bridges { type ifname; }`];
  for (const [name, type] of NETWORK_MAPS) declarations.push(`add map ${t} ${name} { type ${type}; }`);
  for (const [name, header] of NETWORK_BASE_CHAINS) declarations.push(`add chain ${t} ${name} { ${header} }`);
  const commands: NftCommand[] = [];
  for (const [name, , rules] of NETWORK_BASE_CHAINS) commands.push({ kind: 'flush-chain', chain: name }, ...rules.map((r) => ({ kind: 'add-rule' as const, chain: name, rule: r })));
  const elements = (net: FirewallNetwork, o: NetworkObjects) => o.elements.map((e) => ({ set: e.map, ifname: net.bridge, ...(e.jump === undefined ? {} : { jump: e.jump }) }));
  const gone = removed.map((net) => ({ net, o: networkObjects(net) }));
  for (const { net, o } of gone) {
    for (const c of o.chains) commands.push({ kind: 'add-chain', chain: c.name });
    for (const e of elements(net, o)) commands.push({ kind: 'add-element', ...e });
  }
  // Elements first: a chain an element still jumps to cannot be deleted.
  for (const { net, o } of gone) for (const e of elements(net, o)) commands.push({ kind: 'delete-element', set: e.set, ifname: e.ifname });
  for (const { o } of gone) for (const c of o.chains) commands.push({ kind: 'flush-chain', chain: c.name }, { kind: 'delete-chain', chain: c.name });
  for (const net of added) {
    const o = networkObjects(net);
    for (const c of o.chains) commands.push({ kind: 'add-chain', chain: c.name }, ...c.rules.map((r) => ({ kind: 'add-rule' as const, chain: c.name, rule: r })));
    for (const e of elements(net, o)) commands.push({ kind: 'add-element', ...e });
  }
  const chains: NftChainChange = { family: 'ip', table: NFT_TABLE, commands };
  return { script: [...declarations, ...renderNftCommands(chains)].join('\n') + '\n', chains };
}

/** The script of networkChange. */
export function networkChangeScript(added: readonly FirewallNetwork[], removed: readonly FirewallNetwork[]): string {
  return networkChange(added, removed).script;
}

function anyElement(p: FirewallPort): string {
  return `${p.protocol} . ${p.hostPort} : ${p.containerIp} . ${p.containerPort}`;
}

function addrElement(p: FirewallPort): string {
  return `${p.hostIp} . ${p.protocol} . ${p.hostPort} : ${p.containerIp} . ${p.containerPort}`;
}

function map(name: string, type: string, elements: readonly string[], interval = false): string[] {
  const body = elements.length === 0 ? [] : [`\t\telements = { ${elements.join(',\n\t\t\t     ')} }`];
  return [`\tmap ${name} {`, `\t\ttype ${type}`, ...(interval ? ['\t\tflags interval'] : []), ...body, '\t}'];
}

function set(name: string, type: string, elements: readonly string[]): string[] {
  const body = elements.length === 0 ? [] : [`\t\telements = { ${elements.join(',\n\t\t\t     ')} }`];
  return [`\tset ${name} {`, `\t\ttype ${type}`, ...body, '\t}'];
}

/** Consecutive published ports of one container that keep their number: one interval element. */
export interface PortRun {
  readonly protocol: FirewallPort['protocol'];
  readonly hostIp: string;
  readonly first: number;
  readonly last: number;
  readonly containerIp: string;
}

/** Runs shorter than this stay single elements (a run's element costs the same as one port's). */
const MIN_RUN = 2;

/**
 * Splits ports into runs (consecutive host ports, each mapped to the same container address
 * and the same port number) and single ports. Deterministic for a set of ports, so the
 * elements a container's ports were added as are exactly the ones deleted later.
 */
export function groupPorts(ports: readonly FirewallPort[]): { singles: FirewallPort[]; runs: PortRun[] } {
  const singles: FirewallPort[] = [];
  const runs: PortRun[] = [];
  const keep = ports.filter((p) => p.hostPort === p.containerPort);
  singles.push(...ports.filter((p) => p.hostPort !== p.containerPort));
  const byTarget = new Map<string, FirewallPort[]>();
  for (const p of keep) {
    const key = `${p.protocol}|${p.hostIp}|${p.containerIp}`;
    const list = byTarget.get(key);
    if (list) list.push(p);
    else byTarget.set(key, [p]);
  }
  for (const list of byTarget.values()) {
    list.sort((a, b) => a.hostPort - b.hostPort);
    for (let i = 0; i < list.length; ) {
      let j = i;
      while (j + 1 < list.length && list[j + 1]!.hostPort === list[j]!.hostPort + 1) j++;
      if (j - i + 1 >= MIN_RUN) runs.push({ protocol: list[i]!.protocol, hostIp: list[i]!.hostIp, first: list[i]!.hostPort, last: list[j]!.hostPort, containerIp: list[i]!.containerIp });
      else singles.push(...list.slice(i, j + 1));
      i = j + 1;
    }
  }
  return { singles, runs };
}

function anyRunElement(r: PortRun): string {
  return `${r.protocol} . ${r.first}-${r.last} : ${r.containerIp}`;
}

function addrRunElement(r: PortRun): string {
  return `${r.hostIp} . ${r.protocol} . ${r.first}-${r.last} : ${r.containerIp}`;
}

/** A chain; a base chain has a header (its type, hook, priority and policy). */
function chain(name: string, header: string | undefined, rules: readonly string[]): string[] {
  return [`\tchain ${name} {`, ...(header ? [`\t\t${header}`] : []), ...rules.map((r) => `\t\t${r}`), '\t}'];
}

/**
 * An atomic replacement of berth's table: `add` makes the `delete` valid on a first run,
 * and nft applies the whole script as one transaction. The recovery path (daemon start,
 * network changes); per-container changes use portElementsScript.
 */
export function replaceTableScript(ruleset: string): string {
  return `add table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n${ruleset}`;
}

export function deleteTableScript(): string {
  return `add table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n`;
}

/** The op that moves the firewall from `before` (undefined: no table yet) to `after`. */
export function nftTransition(description: string, after: FirewallModel, before?: FirewallModel): NftApply {
  return {
    kind: 'nft-apply',
    description,
    script: replaceTableScript(compileNftables(after)),
    undoScript: before ? replaceTableScript(compileNftables(before)) : deleteTableScript(),
  };
}

/** Adds (or deletes) published ports as map elements: O(the change), one transaction. */
export function portElementsScript(verb: 'add' | 'delete', ports: readonly FirewallPort[]): string {
  const { singles, runs } = groupPorts(ports);
  const lines: string[] = [];
  const sets: [string, string[]][] = [
    ['pub_any', singles.filter((p) => p.hostIp === '').map(anyElement)],
    ['pub_addr', singles.filter((p) => p.hostIp !== '').map(addrElement)],
    ['pub_any_run', runs.filter((r) => r.hostIp === '').map(anyRunElement)],
    ['pub_addr_run', runs.filter((r) => r.hostIp !== '').map(addrRunElement)],
  ];
  for (const [name, elements] of sets) if (elements.length > 0) lines.push(`${verb} element ip ${NFT_TABLE} ${name} { ${elements.join(', ')} }`);
  return lines.join('\n') + '\n';
}

/** Publishing a container's ports, undone by deleting exactly those elements. */
export function publishPorts(description: string, ports: readonly FirewallPort[]): NftApply {
  return { kind: 'nft-apply', description, script: portElementsScript('add', ports), undoScript: portElementsScript('delete', ports) };
}

function elementChangeScript(added: readonly FirewallPort[], removed: readonly FirewallPort[]): string {
  return (removed.length > 0 ? portElementsScript('delete', removed) : '') + (added.length > 0 ? portElementsScript('add', added) : '');
}

/** The default backend: berth's own table, published ports as map elements. */
export const nftablesBackend: FirewallBackend = {
  name: 'nftables',
  replaceAll: (description, after, before) => nftTransition(description, after, before),
  changePorts: (description, { added, removed }) => ({
    kind: 'nft-apply',
    description,
    script: elementChangeScript(added, removed),
    undoScript: elementChangeScript(removed, added),
  }),
  changeNetworks: (description, { added, removed }) => {
    const { script, chains } = networkChange(added, removed);
    return { kind: 'nft-apply', description, script, undoScript: networkChangeScript(removed, added), chains };
  },
  removeAll: (description) => ({ kind: 'nft-apply', description, script: deleteTableScript() }),
  presence: nftPresence,
};

/** berth's table with its chains, a rule per network's bridge, and every published port's container address in a map. */
function nftPresence(model: FirewallModel): PresenceCheck[] {
  return [
    {
      command: ['nft', 'list', 'table', 'ip', NFT_TABLE],
      mustContain: [
        'chain forward',
        'chain input',
        'chain postrouting',
        'chain prerouting',
        ...model.networks.map((n) => `iifname "${n.bridge}"`),
        ...model.ports.map((p) => `: ${p.containerIp}`),
      ],
    },
  ];
}
