import { cidrContains, parseCidr, parseIpv4 } from '../common/ipv4.js';

/**
 * The kernel's netfilter ruleset as `nft -a list ruleset` prints it, and one packet's way
 * through a hook of it: what `berth trace` uses to say which rule decides, by handle.
 * Both firewall backends land here: berth's own `ip berth` table, and the `ip filter`,
 * `ip nat` and `ip raw` tables iptables-nft writes (nft prints their rules in its own
 * syntax). A hook runs every base chain of the IPv4 families in priority order, following
 * jump, goto and return, as the kernel does. It understands the expressions berth writes
 * (with either backend); a rule holding anything else (someone added it) is reported as
 * not understood and skipped, never guessed.
 */
export interface NftRuleset {
  readonly tables: readonly NftTable[];
}

export interface NftTable {
  /** "ip berth", "ip filter", "inet filter", "bridge berth_guard", ... */
  readonly id: string;
  readonly family: string;
  readonly chains: ReadonlyMap<string, NftChain>;
  readonly sets: ReadonlyMap<string, readonly string[]>;
  /** Map name -> its elements as [key, value] text, e.g. ["tcp . 8080", "172.17.0.2 . 80"]. */
  readonly maps: ReadonlyMap<string, readonly (readonly [string, string])[]>;
}

export interface NftChain {
  readonly name: string;
  readonly table: string;
  /** Set for a base chain: what calls it (a regular chain is only jumped to). */
  readonly base?: { readonly type: string; readonly hook: string; readonly priority: number };
  readonly policy: 'accept' | 'drop';
  readonly rules: readonly NftRule[];
}

export interface NftRule {
  /** The table's id, e.g. "ip berth". */
  readonly table: string;
  readonly chain: string;
  readonly handle: number;
  /** The rule as nft prints it, without its handle and counter values. */
  readonly text: string;
}

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

/** One packet as the model sees it at a hook: what berth's rules match on. */
export interface TracedPacket {
  readonly iif: string;
  readonly oif?: string;
  readonly saddr: string;
  readonly daddr: string;
  readonly proto: 'tcp' | 'udp' | 'icmp';
  readonly dport?: number;
  /** A new connection (the first packet): never established or related. */
  readonly dnatted: boolean;
  /** Whether daddr is one of the host's own addresses (`fib daddr type local`). */
  readonly daddrLocal: boolean;
}

/** What the filter chains of a hook decided: the dropping rule, or the last accepting one; `policyOf` when a chain's policy dropped it. */
export interface FilterOutcome {
  readonly verdict: 'accept' | 'drop';
  readonly rule?: NftRule;
  readonly policyOf?: NftChain;
}

/** The address translation the NAT chains of a hook apply to a new connection. */
export type NatOutcome =
  | { readonly kind: 'dnat'; readonly rule: NftRule; readonly address: string; readonly port: number | undefined; readonly element?: string; readonly map?: string }
  | { readonly kind: 'masquerade'; readonly rule: NftRule };

/** Parses `nft -a list ruleset` (or one table's listing). */
export function parseNftRuleset(text: string): NftRuleset {
  const tables: NftTable[] = [];
  let table: { id: string; family: string; chains: Map<string, NftChain>; sets: Map<string, string[]>; maps: Map<string, (readonly [string, string])[]> } | undefined;
  let block: { kind: 'chain' | 'set' | 'map'; name: string; policy: 'accept' | 'drop'; base?: NftChain['base']; rules: NftRule[] } | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const header = /^table (\S+) (\S+) \{/.exec(line);
    if (header) {
      table = { id: `${header[1]} ${header[2]}`, family: header[1]!, chains: new Map(), sets: new Map(), maps: new Map() };
      tables.push(table);
      continue;
    }
    if (!table) continue;
    const opened = /^(chain|set|map) (\S+) \{/.exec(line);
    if (opened) {
      block = { kind: opened[1] as 'chain' | 'set' | 'map', name: opened[2]!, policy: 'accept', rules: [] };
      continue;
    }
    if (!block) continue;
    if (line === '}') {
      if (block.kind === 'chain') table.chains.set(block.name, { name: block.name, table: table.id, policy: block.policy, rules: block.rules, ...(block.base ? { base: block.base } : {}) });
      block = undefined;
      continue;
    }
    if (block.kind === 'chain') {
      const base = /^type (\S+) hook (\S+) priority ([^;]+);(?: policy (accept|drop);)?/.exec(line);
      if (base) {
        block.base = { type: base[1]!, hook: base[2]!, priority: priorityOf(base[3]!) };
        if (base[4]) block.policy = base[4] as 'accept' | 'drop';
        continue;
      }
      const rule = /^(.*?) # handle (\d+)$/.exec(line);
      if (rule) block.rules.push({ table: table.id, chain: block.name, handle: Number(rule[2]), text: withoutCounts(rule[1]!) });
      continue;
    }
    if (line.startsWith('elements = {')) {
      let body = line.slice('elements = {'.length);
      while (!body.includes('}') && i + 1 < lines.length) body += ' ' + lines[++i]!.trim();
      const items = body.slice(0, body.lastIndexOf('}')).split(',').map((s) => s.trim()).filter(Boolean);
      if (block.kind === 'set') table.sets.set(block.name, items.map(unquote));
      else table.maps.set(block.name, items.map((item) => { const [k, v] = item.split(' : '); return [k!.trim(), (v ?? '').trim()] as const; }));
    }
  }
  return { tables };
}

/** A rule's text without its counter's values: they change with every packet, the rule does not. */
export function withoutCounts(text: string): string {
  return text.replace(/\bcounter packets \d+ bytes \d+/g, 'counter');
}

/** The filter chains of `hook`, in priority order: a drop anywhere ends it, an accept ends only its own chain. */
export function filterAt(ruleset: NftRuleset, hook: Hook, packet: TracedPacket, notUnderstood: NftRule[] = []): FilterOutcome {
  let accepted: NftRule | undefined;
  for (const chain of baseChains(ruleset, 'filter', hook)) {
    const end = runChain(ruleset, chain, packet, notUnderstood, 0);
    if (end.kind === 'drop') return { verdict: 'drop', rule: end.rule };
    if (end.kind === 'accept') accepted = end.rule;
    else if (chain.policy === 'drop') return { verdict: 'drop', policyOf: chain };
  }
  return { verdict: 'accept', ...(accepted ? { rule: accepted } : {}) };
}

/** The first NAT statement the nat chains of `hook` apply to a connection's first packet, if any. */
export function natAt(ruleset: NftRuleset, hook: Hook, packet: TracedPacket, notUnderstood: NftRule[] = []): NatOutcome | undefined {
  for (const chain of baseChains(ruleset, 'nat', hook)) {
    const end = runChain(ruleset, chain, packet, notUnderstood, 0);
    if (end.kind === 'nat') return end.nat;
  }
  return undefined;
}

function baseChains(ruleset: NftRuleset, type: string, hook: Hook): NftChain[] {
  return ruleset.tables
    .filter((t) => t.family === 'ip' || t.family === 'inet')
    .flatMap((t) => [...t.chains.values()])
    .filter((c) => c.base?.type === type && c.base.hook === hook)
    .sort((a, b) => a.base!.priority - b.base!.priority);
}

type ChainEnd = { readonly kind: 'accept' | 'drop'; readonly rule: NftRule } | { readonly kind: 'nat'; readonly nat: NatOutcome } | { readonly kind: 'fallthrough' };

/** Jumps deeper than the kernel allows mean a loop in what was read: stop there. */
const MAX_JUMP_DEPTH = 16;

function runChain(ruleset: NftRuleset, chain: NftChain, packet: TracedPacket, notUnderstood: NftRule[], depth: number): ChainEnd {
  const table = ruleset.tables.find((t) => t.id === chain.table)!;
  for (const rule of chain.rules) {
    const judged = judge(rule.text, packet, table);
    if (judged === 'unknown') {
      notUnderstood.push(rule);
      continue;
    }
    if (judged === false) continue;
    const action = judged;
    switch (action.kind) {
      case 'none':
        continue;
      case 'accept':
      case 'drop':
        return { kind: action.kind, rule };
      case 'return':
        return { kind: 'fallthrough' };
      case 'jump':
      case 'goto': {
        const target = table.chains.get(action.chain);
        if (!target || depth >= MAX_JUMP_DEPTH) {
          notUnderstood.push(rule);
          continue;
        }
        const end = runChain(ruleset, target, packet, notUnderstood, depth + 1);
        if (end.kind !== 'fallthrough') return end;
        if (action.kind === 'goto') return end;
        continue;
      }
      case 'masquerade':
        return { kind: 'nat', nat: { kind: 'masquerade', rule } };
      case 'dnat': {
        if ('address' in action.to) return { kind: 'nat', nat: { kind: 'dnat', rule, address: action.to.address, port: action.to.port ?? packet.dport } };
        const found = lookup(table, action.to.map, action.to.key, packet);
        // A map without the key: the rule does not apply (the kernel breaks out of it).
        if (!found) continue;
        return { kind: 'nat', nat: { kind: 'dnat', rule, address: found.address, port: found.port ?? packet.dport, map: action.to.map, element: found.element } };
      }
    }
  }
  return { kind: 'fallthrough' };
}

type Action =
  | { readonly kind: 'none' | 'accept' | 'drop' | 'return' | 'masquerade' }
  | { readonly kind: 'jump' | 'goto'; readonly chain: string }
  | { readonly kind: 'dnat'; readonly to: { readonly address: string; readonly port?: number } | { readonly map: string; readonly key: readonly string[] } };

/**
 * Whether every match expression of the rule holds for the packet, and if so what its
 * statements do (counter and mark set do nothing the model follows; a verdict, a jump, a
 * NAT). An expression or statement berth never writes makes the answer 'unknown'.
 */
export function judge(text: string, packet: TracedPacket, table: NftTable): Action | false | 'unknown' {
  const tokens = tokenize(text);
  let i = 0;
  const next = () => tokens[i++];
  const negated = () => (tokens[i] === '!=' ? (i++, true) : false);
  while (i < tokens.length) {
    if (STATEMENTS.has(tokens[i]!) || (tokens[i] === 'meta' && tokens[i + 2] === 'set')) return actionOf(tokens.slice(i));
    const word = next()!;
    // `iifname vmap @from_bridge` (or keyed by an address, `ip saddr vmap @m`): the packet's element decides what happens next.
    if (tokens[i] === 'vmap' || (word === 'ip' && tokens[i + 1] === 'vmap')) {
      const key = word === 'ip' ? next() : word;
      i++;
      return verdictMapAction(table, key, next(), packet);
    }
    if (word === 'iifname' || word === 'oifname') {
      const value = word === 'iifname' ? packet.iif : packet.oif;
      const not = negated();
      const operand = next();
      if (operand === undefined || value === undefined) return 'unknown';
      const hit = operand.startsWith('@') ? (table.sets.get(operand.slice(1)) ?? []).includes(value) : unquote(operand) === value;
      if (hit === not) return false;
      continue;
    }
    if (word === 'ip' && (tokens[i] === 'saddr' || tokens[i] === 'daddr')) {
      const address = next() === 'saddr' ? packet.saddr : packet.daddr;
      const not = negated();
      const operand = next();
      if (operand === undefined) return 'unknown';
      if (addressIn(address, operand) === not) return false;
      continue;
    }
    if ((word === 'tcp' || word === 'udp' || word === 'th') && tokens[i] === 'dport') {
      i++;
      const not = negated();
      const operand = next();
      if (operand === undefined || !/^\d+(-\d+)?$/.test(operand)) return 'unknown';
      const hit = (word === 'th' ? packet.proto !== 'icmp' : packet.proto === word) && packet.dport !== undefined && inRange(packet.dport, operand);
      if (hit === not) return false;
      continue;
    }
    if (word === 'ct' && tokens[i] === 'state') {
      i++;
      const states = (next() ?? '').split(',');
      // The model follows a connection's first packet: its state is new.
      if (!states.includes('new')) return false;
      continue;
    }
    if (word === 'ct' && tokens[i] === 'status') {
      i++;
      if ((next() ?? '') !== 'dnat') return 'unknown';
      if (!packet.dnatted) return false;
      continue;
    }
    if (word === 'icmp' && tokens[i] === 'type') {
      i++;
      if (next() !== 'echo-request' || packet.proto !== 'icmp') return false;
      continue;
    }
    if (word === 'fib' && tokens[i] === 'daddr' && tokens[i + 1] === 'type' && tokens[i + 2] === 'local') {
      i += 3;
      if (!packet.daddrLocal) return false;
      continue;
    }
    if ((word === 'meta' && tokens[i] === 'l4proto') || (word === 'ip' && tokens[i] === 'protocol')) {
      i++;
      if (next() !== packet.proto) return false;
      continue;
    }
    return 'unknown';
  }
  return { kind: 'none' };
}

/** The verdict of the map's element for the packet (a jump, usually); no element: the rule does not apply. */
function verdictMapAction(table: NftTable, key: string | undefined, operand: string | undefined, packet: TracedPacket): Action | false | 'unknown' {
  const keys = { iifname: packet.iif, oifname: packet.oif, saddr: packet.saddr, daddr: packet.daddr };
  if (!operand?.startsWith('@') || key === undefined || !(key in keys)) return 'unknown';
  const value = keys[key as keyof typeof keys];
  if (value === undefined) return false;
  const byAddress = key === 'saddr' || key === 'daddr';
  const element = (table.maps.get(operand.slice(1)) ?? []).find(([k]) => (byAddress ? addressIn(value, k) : unquote(k) === value));
  return element ? actionOf(tokenize(element[1])) : false;
}

const STATEMENTS = new Set(['counter', 'accept', 'drop', 'return', 'jump', 'goto', 'masquerade', 'dnat']);

function actionOf(tokens: readonly string[]): Action | 'unknown' {
  for (let i = 0; i < tokens.length; i++) {
    const word = tokens[i]!;
    if (word === 'counter') continue;
    // `meta mark set meta mark | 0x10000000`: its value runs to the verdict.
    if (word === 'meta' && tokens[i + 1] === 'mark' && tokens[i + 2] === 'set') {
      i += 2;
      while (i + 1 < tokens.length && !VERDICTS.has(tokens[i + 1]!)) i++;
      continue;
    }
    if (word === 'accept' || word === 'drop' || word === 'return' || word === 'masquerade') return { kind: word };
    if ((word === 'jump' || word === 'goto') && tokens[i + 1] !== undefined) return { kind: word, chain: tokens[i + 1]! };
    if (word === 'dnat') return dnatOf(tokens.slice(i + 1));
    return 'unknown';
  }
  return { kind: 'none' };
}

const VERDICTS = new Set(['accept', 'drop', 'return', 'jump', 'goto']);

/** `dnat [ip] to ADDR[:PORT]`, or `dnat [ip] to KEY . KEY ... map @NAME` (berth's port maps). */
function dnatOf(tokens: readonly string[]): Action | 'unknown' {
  const rest = tokens[0] === 'ip' ? tokens.slice(1) : tokens;
  if (rest[0] !== 'to' || rest.length < 2) return 'unknown';
  const mapAt = rest.indexOf('map');
  if (mapAt > 0 && rest[mapAt + 1]?.startsWith('@')) {
    const key = rest.slice(1, mapAt).join(' ').split(' . ');
    return key.every((k) => FIELDS[k]) ? { kind: 'dnat', to: { map: rest[mapAt + 1]!.slice(1), key } } : 'unknown';
  }
  const [address, port] = rest[1]!.split(':');
  if (rest.length > 2 || !/^\d+\.\d+\.\d+\.\d+$/.test(address!)) return 'unknown';
  return { kind: 'dnat', to: { address: address!, ...(port === undefined ? {} : { port: Number(port) }) } };
}

/** The packet's value for each key expression berth's maps use. */
const FIELDS: Record<string, (p: TracedPacket) => string | undefined> = {
  'ip daddr': (p) => p.daddr,
  'ip saddr': (p) => p.saddr,
  'meta l4proto': (p) => p.proto,
  'th dport': (p) => (p.dport === undefined ? undefined : String(p.dport)),
};

/** The map's element for the packet's key, and where it sends the packet (a run's value keeps the port). */
function lookup(table: NftTable, map: string, key: readonly string[], packet: TracedPacket): { address: string; port?: number; element: string } | undefined {
  const values = key.map((k) => FIELDS[k]!(packet));
  if (values.some((v) => v === undefined)) return undefined;
  const found = (table.maps.get(map) ?? []).find(([k]) => {
    const parts = k.split(' . ');
    return parts.length === values.length && parts.every((part, n) => part === values[n] || (/^\d+-\d+$/.test(part) && inRange(Number(values[n]), part)));
  });
  if (!found) return undefined;
  const [address, port] = found[1].split(' . ');
  return { address: address!, ...(port === undefined ? {} : { port: Number(port) }), element: `${found[0]} : ${found[1]}` };
}

function inRange(port: number, operand: string): boolean {
  const [from, to] = operand.split('-').map(Number);
  return port >= from! && port <= (to ?? from!);
}

/** `raw` and friends as nft names them (libnftables' standard priorities), with an offset: "filter - 1". */
function priorityOf(text: string): number {
  const [name, sign, offset] = text.trim().split(/\s+/);
  const named: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };
  const base = named[name!] ?? Number(name);
  return sign === undefined ? base : base + (sign === '-' ? -1 : 1) * Number(offset);
}

function addressIn(address: string, operand: string): boolean {
  try {
    return operand.includes('/') ? cidrContains(parseCidr(operand), parseIpv4(address)) : operand === address;
  } catch {
    return false;
  }
}

function tokenize(text: string): string[] {
  return text.match(/"[^"]*"|\S+/g) ?? [];
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}
