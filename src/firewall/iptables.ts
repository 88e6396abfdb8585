import { cidrContains, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { IptablesApply, IptablesRemove } from '../kernel/ops.js';
import { DOCKER_USER_CHAIN, IPTABLES_FORWARD_CHAIN } from './dockerd.js';
import type { FirewallBackend } from './backend.js';
import type { FirewallModel, FirewallNetwork, FirewallPort } from './model.js';

/**
 * The iptables backend: the layout the seeds show dockerd writing (000_e4d6c36334137f67.txt
 * §3-5), with BERTH names so berth and Docker can share a host:
 *  nat     PREROUTING/OUTPUT -m addrtype --dst-type LOCAL -> BERTH (one DNAT rule per port)
 *          POSTROUTING -> BERTH-POSTROUTING (MASQUERADE per bridge subnet ! -o bridge, plus
 *          loopback and hairpin sources, as with dockerd --userland-proxy=false)
 *  raw     PREROUTING -> BERTH-PREROUTING: drop what arrives on any interface but lo for
 *          127.0.0.0/8 (before DNAT; the loopback guard, see nftables.ts)
 *  filter  FORWARD -> BERTH-USER (created once, never flushed: the user's extension point)
 *          FORWARD -> BERTH-FORWARD: isolation stage 1/2, RELATED,ESTABLISHED, the BERTH
 *          chain (one ACCEPT per published port), out of the bridge ACCEPT, into it DROP.
 *          INPUT -> BERTH-INPUT: from a bridge without host access, replies and ping only.
 * Every change rebuilds berth's chains with one `iptables-restore --noflush` (atomic per
 * table); rules outside berth's chains are never touched.
 */
const RAW_CHAINS = ['BERTH-PREROUTING'] as const;
const NAT_CHAINS = ['BERTH', 'BERTH-POSTROUTING'] as const;
const FILTER_CHAINS = ['BERTH', 'BERTH-FORWARD', 'BERTH-ISOLATION-STAGE-1', 'BERTH-ISOLATION-STAGE-2', 'BERTH-INPUT'] as const;

function match(p: FirewallPort, port: number): string {
  return `-p ${p.protocol} -m ${p.protocol} --dport ${port}`;
}

function bridgeOf(model: FirewallModel, ip: string): FirewallNetwork | undefined {
  return model.networks.find((n) => cidrContains(parseCidr(n.subnet), parseIpv4(ip)));
}

export function compileIptables(model: FirewallModel): string {
  const nat: string[] = [];
  for (const p of model.ports) {
    nat.push(`-A BERTH${p.hostIp ? ` -d ${p.hostIp}/32` : ''} ${match(p, p.hostPort)} -j DNAT --to-destination ${p.containerIp}:${p.containerPort}`);
  }
  for (const n of model.networks.filter((net) => !net.internal)) {
    nat.push(`-A BERTH-POSTROUTING -o ${n.bridge} -s 127.0.0.0/8 -j MASQUERADE`);
    nat.push(`-A BERTH-POSTROUTING -o ${n.bridge} -s ${n.subnet} -m conntrack --ctstate DNAT -j MASQUERADE`);
    nat.push(`-A BERTH-POSTROUTING -s ${n.subnet} ! -o ${n.bridge} -j MASQUERADE`);
  }
  const filter: string[] = ['-A BERTH-FORWARD -j BERTH-ISOLATION-STAGE-1'];
  for (const n of model.networks) {
    const b = n.bridge;
    if (n.internal) filter.push(`-A BERTH-FORWARD -i ${b} -o ${b} -j ACCEPT`, `-A BERTH-FORWARD -i ${b} -j DROP`, `-A BERTH-FORWARD -o ${b} -j DROP`);
    else filter.push(`-A BERTH-FORWARD -o ${b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-A BERTH-FORWARD -o ${b} -j BERTH`, `-A BERTH-FORWARD -i ${b} -j ACCEPT`, `-A BERTH-FORWARD -o ${b} -j DROP`);
  }
  for (const p of model.ports) {
    const net = bridgeOf(model, p.containerIp);
    if (net) filter.push(`-A BERTH -d ${p.containerIp}/32 -o ${net.bridge} ${match(p, p.containerPort)} -j ACCEPT`);
  }
  for (const n of model.networks) filter.push(`-A BERTH-ISOLATION-STAGE-1 -i ${n.bridge} ! -o ${n.bridge} -j BERTH-ISOLATION-STAGE-2`);
  filter.push('-A BERTH-ISOLATION-STAGE-1 -j RETURN');
  for (const n of model.networks) filter.push(`-A BERTH-ISOLATION-STAGE-2 -o ${n.bridge} -j DROP`);
  filter.push('-A BERTH-ISOLATION-STAGE-2 -j RETURN');
  for (const n of model.networks.filter((net) => !net.hostAccess)) {
    filter.push(`-A BERTH-INPUT -i ${n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-A BERTH-INPUT -i ${n.bridge} -p icmp --icmp-type echo-request -j ACCEPT`, `-A BERTH-INPUT -i ${n.bridge} -j DROP`);
  }
  const table = (name: string, chains: readonly string[], rules: string[]) => [
    `*${name}`,
    ...chains.map((c) => `:${c} - [0:0]`),
    ...chains.map((c) => `-F ${c}`),
    ...rules,
    'COMMIT',
  ];
  const raw = ['-A BERTH-PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP'];
  return [...table('raw', RAW_CHAINS, raw), ...table('nat', NAT_CHAINS, nat), ...table('filter', FILTER_CHAINS, filter), ''].join('\n');
}

const EMPTY: FirewallModel = { networks: [], ports: [] };

/**
 * `ensure`: also create BERTH-USER and the jumps from the built-in chains when missing.
 * Done by replaceAll (daemon start, recovery) only: a port change keeps to berth's own
 * chains, so publishing does not pay six extra `iptables` processes.
 */
function apply(description: string, after: FirewallModel, before: FirewallModel, ensure: boolean): IptablesApply {
  return {
    kind: 'iptables-apply',
    description,
    script: compileIptables(after),
    undoScript: compileIptables(before),
    ensureChains: ensure ? [{ table: 'filter', chain: 'BERTH-USER', rules: ['-j RETURN'] }] : [],
    // In order of insertion at the top: BERTH-USER ends up before BERTH-FORWARD.
    ensureJumps: !ensure ? [] : [
      { table: 'raw', chain: 'PREROUTING', rule: '-j BERTH-PREROUTING' },
      { table: 'nat', chain: 'PREROUTING', rule: '-m addrtype --dst-type LOCAL -j BERTH' },
      { table: 'nat', chain: 'OUTPUT', rule: '-m addrtype --dst-type LOCAL -j BERTH' },
      { table: 'nat', chain: 'POSTROUTING', rule: '-j BERTH-POSTROUTING' },
      { table: 'filter', chain: 'FORWARD', rule: '-j BERTH-FORWARD' },
      { table: 'filter', chain: 'INPUT', rule: '-j BERTH-INPUT' },
      { table: 'filter', chain: 'FORWARD', rule: '-j BERTH-USER' },
    ],
  };
}

/** The jumps `apply` ensures (and DOCKER-USER's into berth), every copy removed first, then berth's chains (BERTH-USER stays: it is the user's). */
function removeAll(description: string): IptablesRemove {
  return {
    kind: 'iptables-remove',
    description,
    jumps: [
      ...apply('', EMPTY, EMPTY, true).ensureJumps.filter((j) => j.rule !== '-j BERTH-USER'),
      // Beside dockerd, DOCKER-USER jumps to BERTH-FORWARD too (firewall/dockerd.ts).
      { table: 'filter', chain: DOCKER_USER_CHAIN, rule: `-j ${IPTABLES_FORWARD_CHAIN}` },
    ],
    chains: [
      ...RAW_CHAINS.map((chain) => ({ table: 'raw', chain })),
      ...NAT_CHAINS.map((chain) => ({ table: 'nat', chain })),
      // The isolation stages are jumped to from BERTH-FORWARD: delete it first.
      ...['BERTH-FORWARD', 'BERTH', 'BERTH-ISOLATION-STAGE-1', 'BERTH-ISOLATION-STAGE-2', 'BERTH-INPUT'].map((chain) => ({ table: 'filter', chain })),
    ],
  };
}

export const iptablesBackend: FirewallBackend = {
  name: 'iptables',
  replaceAll: (description, after, before) => apply(description, after, before ?? EMPTY, true),
  changePorts: (description, { before, after }) => apply(description, after, before, false),
  // Docker's layout names bridges in shared chains: nothing smaller to change than those chains.
  changeNetworks: (description, { before, after }) => apply(description, after, before, true),
  removeAll,
  presence: (model) => [
    { command: ['iptables', '-w', '-S', 'FORWARD'], mustContain: ['-j BERTH-FORWARD'] },
    { command: ['iptables', '-w', '-S', 'INPUT'], mustContain: ['-j BERTH-INPUT'] },
    { command: ['iptables', '-w', '-S', 'BERTH-FORWARD'], mustContain: model.networks.map((n) => `-i ${n.bridge} `) },
    { command: ['iptables', '-w', '-t', 'nat', '-S', 'POSTROUTING'], mustContain: ['-j BERTH-POSTROUTING'] },
    { command: ['iptables', '-w', '-t', 'nat', '-S', 'BERTH'], mustContain: model.ports.map((p) => `--to-destination ${p.containerIp}:${p.containerPort}`) },
  ],
};
