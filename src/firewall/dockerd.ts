import type { IptablesApply } from '../kernel/ops.js';
import type { FirewallBackendName } from './backend.js';

/**
 * Living beside dockerd. dockerd sets the iptables FORWARD policy to DROP and, once it has a
 * bridge, has the kernel pass bridged frames through iptables too (br_netfilter): from
 * then on, every packet berth's own table lets through would still die in dockerd's chain,
 * intra-bridge traffic included. A drop in any netfilter table is final, so berth's accepts
 * alone cannot help. dockerd's documented hook for other tools is its DOCKER-USER chain,
 * jumped to first from FORWARD; dockerd keeps its content across restarts, so the order in
 * which the two daemons start does not matter.
 *  - nftables backend: berth marks what its forward chain accepts (that chain runs just
 *    before iptables' at the same hook), and BERTH-DOCKERD, jumped to from DOCKER-USER,
 *    accepts exactly the marked packets;
 *  - iptables backend: berth's rules live in the same FORWARD chain as dockerd's, where
 *    dockerd's own accepts (out of docker0 to anywhere) would come first: DOCKER-USER jumps
 *    to BERTH-FORWARD itself, so berth decides its bridges' traffic before dockerd does.
 */

/** The mark bit berth's forward chain sets on what it accepts. */
export const ACCEPTED_MARK = 0x10000000;

/** berth's chain under DOCKER-USER (nftables backend). Not BERTH-USER: that is the iptables backend's chain for the user. */
export const BERTH_DOCKERD_CHAIN = 'BERTH-DOCKERD';
export const DOCKER_USER_CHAIN = 'DOCKER-USER';
/** The iptables backend's forward chain, which DOCKER-USER jumps to with that backend. */
export const IPTABLES_FORWARD_CHAIN = 'BERTH-FORWARD';

/**
 * DOCKER-USER (made as dockerd makes it, when dockerd has not yet) and the jumps FORWARD →
 * DOCKER-USER → berth's chain for this backend. Applying it again changes nothing.
 */
export function dockerCoexistenceOp(backend: FirewallBackendName): IptablesApply {
  const mark = `0x${ACCEPTED_MARK.toString(16)}`;
  const dockerUser = { table: 'filter', chain: DOCKER_USER_CHAIN, rules: ['-j RETURN'] };
  const intoDockerUser = { table: 'filter', chain: 'FORWARD', rule: `-j ${DOCKER_USER_CHAIN}` };
  if (backend === 'iptables') {
    return {
      kind: 'iptables-apply',
      description: "let berth's iptables rules decide its bridges' traffic ahead of dockerd's (DOCKER-USER)",
      ensureChains: [dockerUser],
      script: '',
      ensureJumps: [intoDockerUser, { table: 'filter', chain: DOCKER_USER_CHAIN, rule: `-j ${IPTABLES_FORWARD_CHAIN}` }],
    };
  }
  return {
    kind: 'iptables-apply',
    description: "let berth-accepted traffic through dockerd's FORWARD chain (DOCKER-USER)",
    ensureChains: [dockerUser],
    script: ['*filter', `:${BERTH_DOCKERD_CHAIN} - [0:0]`, `-A ${BERTH_DOCKERD_CHAIN} -m mark --mark ${mark}/${mark} -j ACCEPT`, 'COMMIT', ''].join('\n'),
    ensureJumps: [intoDockerUser, { table: 'filter', chain: DOCKER_USER_CHAIN, rule: `-j ${BERTH_DOCKERD_CHAIN}` }],
  };
}
