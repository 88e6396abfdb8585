import { cidrContains, parseCidr, parseIpv4 } from '../common/ipv4.js';

/**
 * berth's nftables table as the kernel holds it (`nft -a list table ip berth`), and the
 * evaluation of one packet through a chain of it: what `berth trace` uses to say which
 * rule decides, by handle. It understands the expressions berth writes; a rule holding
 * anything else (someone added it) is reported as not understood and skipped, never
 * guessed.
 */
export interface NftTable {
  readonly chains: ReadonlyMap<string, NftChain>;
  readonly sets: ReadonlyMap<string, readonly string[]>;
  /** Map name -> its elements as [key, value] text, e.g. ["tcp . 8080", "172.17.0.2 . 80"]. */
  readonly maps: ReadonlyMap<string, readonly (readonly [string, string])[]>;
}

export interface NftChain {
  readonly name: string;
  readonly policy: 'accept' | 'drop';
  readonly rules: readonly NftRule[];
}

export interface NftRule {
  readonly chain: string;
  readonly handle: number;
  /** The rule as nft prints it, without its handle. */
  readonly text: string;
}

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

export type RuleOutcome = { readonly verdict: 'accept' | 'drop'; readonly rule?: NftRule } | { readonly verdict: 'policy'; readonly policy: 'accept' | 'drop' };

/** Parses `nft -a list table ...` output. */
export function parseNftTable(text: string): NftTable {
  const chains = new Map<string, NftChain>();
  const sets = new Map<string, string[]>();
  const maps = new Map<string, (readonly [string, string])[]>();
  const lines = text.split('\n');
  let block: { kind: 'chain' | 'set' | 'map'; name: string; policy: 'accept' | 'drop'; rules: NftRule[] } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const opened = /^(chain|set|map) (\S+) \{/.exec(line);
    if (opened) {
      block = { kind: opened[1] as 'chain' | 'set' | 'map', name: opened[2]!, policy: 'accept', rules: [] };
      continue;
    }
    if (!block) continue;
    if (line === '}') {
      if (block.kind === 'chain') chains.set(block.name, { name: block.name, policy: block.policy, rules: block.rules });
      block = undefined;
      continue;
    }
    if (block.kind === 'chain') {
      const policy = /policy (accept|drop);/.exec(line);
      if (line.startsWith('type ')) {
        if (policy) block.policy = policy[1] as 'accept' | 'drop';
        continue;
      }
      const rule = /^(.*?) # handle (\d+)$/.exec(line);
      if (rule) block.rules.push({ chain: block.name, handle: Number(rule[2]), text: rule[1]! });
      continue;
    }
    if (line.startsWith('elements = {')) {
      let body = line.slice('elements = {'.length);
      while (!body.includes('}') && i + 1 < lines.length) body += ' ' + lines[++i]!.trim();
      const items = body.slice(0, body.lastIndexOf('}')).split(',').map((s) => s.trim()).filter(Boolean);
      if (block.kind === 'set') sets.set(block.name, items.map(unquote));
      else maps.set(block.name, items.map((item) => { const [k, v] = item.split(' : '); return [k!.trim(), (v ?? '').trim()] as const; }));
    }
  }
  return { chains, sets, maps };
}

/** The first rule of a filter chain that matches and decides (accept or drop), else its policy. */
export function evaluateChain(table: NftTable, chainName: string, packet: TracedPacket, notUnderstood: NftRule[] = []): RuleOutcome {
  const chain = table.chains.get(chainName);
  if (!chain) return { verdict: 'policy', policy: 'accept' };
  for (const rule of matchingRules(chain, packet, table, notUnderstood)) {
    if (/\baccept$/.test(rule.text)) return { verdict: 'accept', rule };
    if (/\bdrop$/.test(rule.text)) return { verdict: 'drop', rule };
  }
  return { verdict: 'policy', policy: chain.policy };
}

/** The first rule of a NAT chain that matches (its statement applies: masquerade, dnat). */
export function firstMatching(table: NftTable, chainName: string, packet: TracedPacket, notUnderstood: NftRule[] = []): NftRule | undefined {
  const chain = table.chains.get(chainName);
  return chain ? matchingRules(chain, packet, table, notUnderstood).next().value : undefined;
}

function* matchingRules(chain: NftChain, packet: TracedPacket, table: NftTable, notUnderstood: NftRule[]): Generator<NftRule, undefined> {
  for (const rule of chain.rules) {
    const matched = matches(rule.text, packet, table);
    if (matched === 'unknown') notUnderstood.push(rule);
    else if (matched) yield rule;
  }
  return undefined;
}

/**
 * Whether every match expression of the rule holds for the packet. Statements (mark,
 * counter, masquerade, dnat, verdicts) are not matches; an expression berth never writes
 * makes the answer 'unknown'.
 */
export function matches(text: string, packet: TracedPacket, table: NftTable): boolean | 'unknown' {
  const tokens = tokenize(text);
  let i = 0;
  const next = () => tokens[i++];
  while (i < tokens.length) {
    const word = next()!;
    if (word === 'accept' || word === 'drop' || word === 'masquerade' || word === 'counter') continue;
    if (word === 'meta' && tokens[i] === 'mark' && tokens[i + 1] === 'set') return true; // `meta mark set ...` runs to the verdict
    if (word === 'dnat') return true; // `dnat ... map @...`: a statement; the map is evaluated apart (dnatOf)
    if (word === 'iifname' || word === 'oifname') {
      const value = word === 'iifname' ? packet.iif : packet.oif;
      const negated = tokens[i] === '!=' ? (i++, true) : false;
      const operand = next();
      if (operand === undefined || value === undefined) return 'unknown';
      const hit = operand.startsWith('@') ? (table.sets.get(operand.slice(1)) ?? []).includes(value) : unquote(operand) === value;
      if (hit === negated) return false;
      continue;
    }
    if (word === 'ip' && (tokens[i] === 'saddr' || tokens[i] === 'daddr')) {
      const address = next() === 'saddr' ? packet.saddr : packet.daddr;
      const negated = tokens[i] === '!=' ? (i++, true) : false;
      const operand = next();
      if (operand === undefined) return 'unknown';
      if (addressIn(address, operand) === negated) return false;
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
    if (word === 'meta' && tokens[i] === 'l4proto') {
      i++;
      if (next() !== packet.proto) return false;
      continue;
    }
    return 'unknown';
  }
  return true;
}

/**
 * Where berth's DNAT sends the packet, from the port maps as the kernel holds them:
 * pub_addr (host address . proto . port) before pub_any (proto . port), single ports
 * before runs, as the prerouting chain orders its rules. Undefined when no element matches.
 */
export function dnatOf(table: NftTable, packet: TracedPacket): { readonly address: string; readonly port: number; readonly element: string; readonly map: string } | undefined {
  if (!packet.daddrLocal || packet.dport === undefined || packet.proto === 'icmp') return undefined;
  const port = packet.dport;
  const lookups: [string, (key: string) => boolean, boolean][] = [
    ['pub_addr', (k) => k === `${packet.daddr} . ${packet.proto} . ${port}`, false],
    ['pub_addr_run', (k) => runHolds(k, `${packet.daddr} . ${packet.proto} . `, port), true],
    ['pub_any', (k) => k === `${packet.proto} . ${port}`, false],
    ['pub_any_run', (k) => runHolds(k, `${packet.proto} . `, port), true],
  ];
  for (const [map, holds, keepsPort] of lookups) {
    const found = (table.maps.get(map) ?? []).find(([k]) => holds(k));
    if (!found) continue;
    const [address, mapped] = found[1].split(' . ');
    return { address: address!, port: keepsPort ? port : Number(mapped), element: `${found[0]} : ${found[1]}`, map };
  }
  return undefined;
}

function runHolds(key: string, prefix: string, port: number): boolean {
  if (!key.startsWith(prefix)) return false;
  const [from, to] = key.slice(prefix.length).split('-').map(Number);
  return from !== undefined && port >= from && port <= (to ?? from);
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
