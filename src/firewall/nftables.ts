import type { NftApply } from '../kernel/ops.js';
import type { FirewallModel, FirewallNetwork } from './model.js';

/** berth's own table: berth never touches a rule outside it. */
export const NFT_TABLE = 'berth';

/**
 * Compiles the model into berth's nftables table. The rules, per bridge network, are the
 * nftables form of what the seeds show dockerd writing with iptables:
 *  - forward: replies to container traffic come back in (conntrack), containers may send
 *    anywhere (unless internal), and nothing else is forwarded to a bridge (Docker's
 *    FORWARD policy DROP, which also blocks LAN hosts routing to container IPs);
 *  - postrouting: MASQUERADE what leaves a bridge subnet by another interface.
 */
export function compileNftables(model: FirewallModel): string {
  const forward: string[] = [];
  const postrouting: string[] = [];
  for (const net of model.networks) {
    forward.push(...forwardRules(net));
    if (!net.internal) postrouting.push(`ip saddr ${net.subnet} oifname != "${net.bridge}" masquerade`);
  }
  return [
    `table ip ${NFT_TABLE} {`,
    ...chain('forward', 'type filter hook forward priority filter; policy accept;', forward),
    ...chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', postrouting),
    '}',
    '',
  ].join('\n');
}

function forwardRules(net: FirewallNetwork): string[] {
  const b = `"${net.bridge}"`;
  if (net.internal) return [`iifname ${b} oifname ${b} accept`, `iifname ${b} drop`, `oifname ${b} drop`];
  return [`oifname ${b} ct state established,related accept`, `iifname ${b} accept`, `oifname ${b} drop`];
}

function chain(name: string, header: string, rules: string[]): string[] {
  return [`\tchain ${name} {`, `\t\t${header}`, ...rules.map((r) => `\t\t${r}`), '\t}'];
}

/**
 * An atomic replacement of berth's table: `add` makes the `delete` valid on a first run,
 * and nft applies the whole script as one transaction.
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
