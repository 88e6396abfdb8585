import type { IptablesApply } from '../kernel/ops.js';

/**
 * Living beside dockerd. dockerd sets the iptables FORWARD policy to DROP and, once it has a
 * bridge, has the kernel pass bridged frames through iptables too (br_netfilter): from
 * then on, every packet berth's own table lets through would still die in dockerd's chain,
 * intra-bridge traffic included. A drop in any netfilter table is final, so berth's accepts
 * alone cannot help. dockerd's documented hook for other tools is its DOCKER-USER chain,
 * jumped to first from FORWARD: berth marks what its forward chain accepts (its chain runs
 * just before iptables' at the same hook) and accepts exactly the marked packets in a chain
 * of its own, BERTH-USER, jumped to from DOCKER-USER. dockerd keeps DOCKER-USER's content
 * across its restarts, so the order in which the two daemons start does not matter.
 */

/** The mark bit berth's forward chain sets on what it accepts. */
export const ACCEPTED_MARK = 0x10000000;

export const BERTH_USER_CHAIN = 'BERTH-USER';
const DOCKER_USER_CHAIN = 'DOCKER-USER';

/** The nftables statement that marks an accepted packet (other bits of the mark are kept). */
export const MARK_ACCEPTED = `meta mark set meta mark | 0x${ACCEPTED_MARK.toString(16)}`;

/**
 * DOCKER-USER (made as dockerd makes it, when dockerd has not yet), berth's chain with its
 * one rule, and the jumps FORWARD → DOCKER-USER → BERTH-USER. Applying it again changes nothing.
 */
export function dockerCoexistenceOp(): IptablesApply {
  const mark = `0x${ACCEPTED_MARK.toString(16)}`;
  return {
    kind: 'iptables-apply',
    description: 'let berth-accepted traffic through dockerd\'s FORWARD chain (DOCKER-USER)',
    ensureChains: [{ table: 'filter', chain: DOCKER_USER_CHAIN, rules: ['-j RETURN'] }],
    script: ['*filter', `:${BERTH_USER_CHAIN} - [0:0]`, `-A ${BERTH_USER_CHAIN} -m mark --mark ${mark}/${mark} -j ACCEPT`, 'COMMIT', ''].join('\n'),
    ensureJumps: [
      { table: 'filter', chain: 'FORWARD', rule: `-j ${DOCKER_USER_CHAIN}` },
      { table: 'filter', chain: DOCKER_USER_CHAIN, rule: `-j ${BERTH_USER_CHAIN}` },
    ],
  };
}
