import type { NftRule } from './nft-eval.js';

/**
 * One sentence per rule berth writes, with either backend (nftables.ts, iptables.ts as nft
 * lists it), saying why it is there: `berth trace` prints it beside the rule that decided.
 * `networkOf` names the network a bridge belongs to.
 */
export function reasonFor(rule: Pick<NftRule, 'table' | 'chain' | 'text'>, networkOf: (bridge: string) => string): string {
  const text = rule.text.replace(/\bcounter\s*/g, '').trim();
  const network = networkOf(/"([^"]+)"/.exec(text)?.[1] ?? '');
  const where = `${rule.table} ${rule.chain}`;
  return REASONS.find((r) => (r.chain === undefined || r.chain.test(where)) && r.text.test(text))?.why(network) ?? 'a rule berth did not write';
}

interface Reason {
  /** "TABLE CHAIN" the rule must be in (any, when absent). */
  readonly chain?: RegExp;
  readonly text: RegExp;
  readonly why: (network: string) => string;
}

const INPUT = /^ip (berth input(_\S+)?|filter BERTH-INPUT)$/;

const REASONS: readonly Reason[] = [
  // The hand-overs from iptables' built-in chains to berth's own (--firewall iptables).
  { chain: /^ip raw PREROUTING$/, text: /^jump BERTH-PREROUTING$/, why: () => "the raw table hands every arriving packet to berth's loopback guard" },
  { chain: /^ip nat (PREROUTING|OUTPUT)$/, text: /^fib daddr type local jump BERTH$/, why: () => "packets to the host's own addresses go through berth's port mappings (chain BERTH)" },
  { chain: /^ip nat POSTROUTING$/, text: /^jump BERTH-POSTROUTING$/, why: () => "what leaves the host goes through berth's source NAT" },
  { chain: /^ip filter FORWARD$/, text: /^jump BERTH-FORWARD$/, why: () => "the host's FORWARD chain hands forwarded packets to berth's" },
  { chain: /^ip filter FORWARD$/, text: /^jump BERTH-USER$/, why: () => 'BERTH-USER holds your own rules and runs before berth\'s (like DOCKER-USER)' },
  { chain: /^ip filter BERTH-USER$/, text: /^return$/, why: () => 'BERTH-USER is empty: nothing of yours decides' },
  { chain: /^ip filter INPUT$/, text: /^jump BERTH-INPUT$/, why: () => "the host's INPUT chain hands packets for the host to berth's" },
  { chain: /^ip filter BERTH-FORWARD$/, text: /^jump BERTH-ISOLATION-STAGE-1$/, why: () => 'isolation between networks is checked first' },
  { chain: /^ip filter BERTH-ISOLATION-STAGE-1$/, text: /jump BERTH-ISOLATION-STAGE-2$/, why: (n) => `isolation, stage 1: a packet leaving ${n} for another interface; stage 2 drops it if that is another berth network` },
  { chain: /^ip filter BERTH-ISOLATION-STAGE-(1|2)$/, text: /^return$/, why: () => 'isolation: not between two berth networks' },
  { chain: /^ip filter BERTH-ISOLATION-STAGE-2$/, text: /^oifname "[^"]+" drop$/, why: (n) => `isolation: nothing crosses into ${n} from another berth network (Docker's isolation stage 2)` },
  { chain: /^ip filter BERTH-FORWARD$/, text: /^oifname "[^"]+" jump BERTH$/, why: (n) => `traffic into ${n} is checked against its published ports (chain BERTH)` },
  { chain: /^ip filter BERTH$/, text: /^oifname "[^"]+" ip daddr \S+ (tcp|udp) dport \d+ accept$/, why: (n) => `a published port: traffic DNATed to this container on ${n} is let in` },
  { chain: /^ip filter BERTH-FORWARD$/, text: /^iifname "[^"]+" accept$/, why: (n) => `containers on ${n} may send anywhere (it is not internal)` },
  { chain: /^ip nat BERTH$/, text: /dnat to \S+$/, why: () => 'a published port: DNAT from a host address and port to a container (one rule per port)' },
  // berth's base chains hand each packet to its network's own chains (nftables).
  { chain: /^ip berth forward$/, text: /^iifname vmap @from_bridge$/, why: () => "what leaves a berth bridge goes through its network's chain (isolation first)" },
  { chain: /^ip berth forward$/, text: /^oifname vmap @to_bridge$/, why: () => "what is forwarded into a berth bridge goes through its network's chain" },
  { chain: /^ip berth input$/, text: /^iifname vmap @input_from_bridge$/, why: () => "what containers send to the host itself goes through their network's input chain" },
  { chain: /^ip berth postrouting$/, text: /^oifname vmap @nat_to_bridge$/, why: () => "what enters a berth bridge goes through its network's source NAT chain" },
  { chain: /^ip berth postrouting$/, text: /^iifname vmap @nat_from_bridge$/, why: () => "what a berth bridge forwards goes through its network's source NAT chain" },
  // The rules of both backends, in the same words.
  { text: /^iifname != "lo" ip daddr 127\.0\.0\.0\/8 drop$/, why: () => 'nothing from outside lo may be addressed to 127.0.0.0/8: localhost-only services stay local (the CVE-2020-8558 class)' },
  { text: /oifname != "[^"]+" oifname @bridges drop$/, why: (n) => `isolation: nothing crosses from ${n} to another berth network (Docker's isolation stage)` },
  { chain: INPUT, text: /^iifname "[^"]+" ct state (established,related|related,established) accept$/, why: (n) => `replies to the host's own connections into ${n}` },
  { chain: INPUT, text: /^iifname "[^"]+" (meta l4proto icmp )?icmp type echo-request accept$/, why: (n) => `containers on ${n} may ping the host` },
  { chain: INPUT, text: /^iifname "[^"]+" drop$/, why: (n) => `containers on ${n} may not reach the host's own services (-o berth.host_access=true allows it)` },
  { text: /^iifname "[^"]+" oifname "[^"]+" .*accept$/, why: (n) => `${n} is internal: its containers reach each other and nothing else` },
  { text: /^oifname "[^"]+" ct state (established,related|related,established) .*accept$/, why: (n) => `replies to connections opened from ${n} come back in` },
  { text: /^oifname "[^"]+" ct status dnat .*accept$/, why: (n) => `a published port: traffic DNATed to a container on ${n} is let in` },
  { text: /^iifname "[^"]+" meta mark .*accept$/, why: (n) => `containers on ${n} may send anywhere (it is not internal)` },
  { text: /^oifname "[^"]+" drop$/, why: (n) => `nothing else is forwarded into ${n} (Docker's FORWARD policy DROP): only replies and published ports come in` },
  { text: /^iifname "[^"]+" drop$/, why: (n) => `${n} is internal: nothing leaves it` },
  { text: /ct status dnat masquerade$/, why: () => 'hairpin: a container reaching a published port of its own network through the host sees the host as the source' },
  { text: /ip saddr 127\.0\.0\.0\/8 masquerade$/, why: () => "the host's 127.0.0.1 reaching a published port: the container sees the gateway as the source" },
  { text: /oifname != "[^"]+"( ip saddr \S+)? masquerade$/, why: (n) => `NAT: what leaves ${n} for elsewhere goes out with the host's address (the seeds' MASQUERADE)` },
  { text: /dnat .* map @pub_/, why: () => 'published ports: DNAT from a host address and port to a container (the port maps)' },
];
