import { VETH_QUEUES, type KernelOp, type Plan } from './ops.js';

/**
 * Which process applies an op. Consecutive ops on the same channel go into one process:
 * one `ip -batch` per namespace side, one `nft -f` per transaction.
 */
export type Channel =
  | { readonly tool: 'ip'; readonly netns?: string }
  | { readonly tool: 'nft'; readonly netns?: string }
  | { readonly tool: 'bridge' }
  | { readonly tool: 'iptables' }
  | { readonly tool: 'sysctl'; readonly netns?: string };

export function channelOf(op: KernelOp): Channel {
  switch (op.kind) {
    case 'netns-add':
    case 'netns-attach':
    case 'netns-del':
    case 'bridge-add':
    case 'veth-add':
    case 'macvlan-add':
    case 'ipvlan-add':
    case 'vlan-add':
    case 'dummy-add':
    case 'vxlan-add':
    case 'neigh-replace':
    case 'neigh-del':
    case 'link-alias':
    case 'port-attach':
    case 'port-hairpin':
      return { tool: 'ip' };
    case 'link-up':
    case 'link-no-ipv6-address':
    case 'link-down':
    case 'link-del':
    case 'link-rename':
    case 'addr-add':
    case 'addr-del':
    case 'route-add':
    case 'route-del':
      return { tool: 'ip', netns: op.netns };
    case 'fdb-replace':
    case 'fdb-del':
    case 'port-fdb-static':
      return { tool: 'bridge' };
    case 'sysctl':
      return { tool: 'sysctl', netns: op.netns };
    case 'nft-apply':
      return { tool: 'nft', netns: op.netns };
    case 'iptables-apply':
    case 'iptables-remove':
      return { tool: 'iptables' };
  }
}

export function sameChannel(a: Channel, b: Channel): boolean {
  // ip, nft and sysctl run per namespace; one bridge or iptables run takes any of its ops.
  const netnsOf = (c: Channel) => (c.tool === 'ip' || c.tool === 'nft' || c.tool === 'sysctl' ? c.netns : undefined);
  return a.tool === b.tool && netnsOf(a) === netnsOf(b);
}

/** The arguments after `ip` (after `bridge` for FDB ops) for one op: exactly one line of a `-batch` file. */
export function ipBatchLine(op: KernelOp): string {
  switch (op.kind) {
    case 'netns-add':
      return `netns add ${op.name}`;
    case 'netns-attach':
      return `netns attach ${op.name} ${op.pid}`;
    case 'netns-del':
      return `netns del ${op.name}`;
    case 'bridge-add':
      return `link add ${op.name}${op.mac ? ` address ${op.mac}` : ''}${op.mtu ? ` mtu ${op.mtu}` : ''} type bridge forward_delay 0 mcast_snooping 0`;
    case 'veth-add': {
      const mtu = op.mtu ? ` mtu ${op.mtu}` : '';
      const queues = ` numtxqueues ${VETH_QUEUES} numrxqueues ${VETH_QUEUES}`;
      return (
        `link add ${op.hostName}${mtu}${queues} master ${op.master} up type veth ` +
        `peer name ${op.peerName}${mtu}${queues} address ${op.peerMac}${op.peerNetns === undefined ? '' : ` netns ${op.peerNetns}`}`
      );
    }
    case 'macvlan-add':
      return (
        `link add link ${op.parent} name ${op.name}${op.netns ? ` netns ${op.netns}` : ''}${op.mac ? ` address ${op.mac}` : ''}` +
        `${op.mtu ? ` mtu ${op.mtu}` : ''} type macvlan mode ${op.mode}`
      );
    case 'ipvlan-add':
      return `link add link ${op.parent} name ${op.name}${op.netns ? ` netns ${op.netns}` : ''} type ipvlan mode ${op.mode} ${op.flag}`;
    case 'vlan-add':
      return `link add link ${op.parent} name ${op.name} type vlan id ${op.vlanId}`;
    case 'dummy-add':
      return `link add ${op.name} type dummy`;
    case 'vxlan-add':
      return `link add ${op.name}${op.mtu ? ` mtu ${op.mtu}` : ''} type vxlan id ${op.vni} local ${op.local} dstport ${op.dstport} nolearning proxy`;
    case 'neigh-replace':
      return `neigh replace ${op.address} lladdr ${op.mac} dev ${op.dev} nud permanent`;
    case 'neigh-del':
      return `neigh del ${op.address} dev ${op.dev}`;
    case 'fdb-replace':
      return `fdb replace ${op.mac} dev ${op.dev} dst ${op.dst}`;
    case 'fdb-del':
      return `fdb del ${op.mac} dev ${op.dev} dst ${op.dst}`;
    case 'port-fdb-static':
      return `fdb replace ${op.mac} dev ${op.dev} master static`;
    case 'link-up':
      return `link set ${op.dev} up`;
    case 'link-no-ipv6-address':
      return `link set dev ${op.dev} addrgenmode none`;
    case 'link-down':
      return `link set ${op.dev} down`;
    case 'link-alias':
      return `link set dev ${op.dev} alias ${op.alias}`;
    case 'port-attach':
      return `link set dev ${op.dev} master ${op.master}`;
    case 'port-hairpin':
      return `link set dev ${op.dev} type bridge_slave hairpin on`;
    case 'link-del':
      return `link del ${op.dev}`;
    case 'link-rename':
      return `link set dev ${op.dev} name ${op.name}`;
    case 'addr-add':
      return `addr add ${op.cidr} dev ${op.dev}`;
    case 'addr-del':
      return `addr del ${op.cidr} dev ${op.dev}`;
    case 'route-add':
    case 'route-del':
      return `route ${op.kind === 'route-del' ? 'del' : op.replace ? 'replace' : 'add'} ${op.dst}${op.via !== undefined ? ` via ${op.via}` : ''}${op.dev !== undefined ? ` dev ${op.dev}` : ''}`;
    case 'sysctl':
    case 'nft-apply':
    case 'iptables-apply':
    case 'iptables-remove':
      throw new Error(`op ${op.kind} is not an ip or bridge command`);
  }
}

/** One op as the shell command a person would type. */
export function renderOp(op: KernelOp): string {
  const channel = channelOf(op);
  switch (channel.tool) {
    case 'ip':
      return `ip ${channel.netns ? `-n ${channel.netns} ` : ''}${ipBatchLine(op)}`;
    case 'bridge':
      return `bridge ${ipBatchLine(op)}`;
    case 'sysctl':
      if (op.kind !== 'sysctl') throw new Error('unreachable');
      return `${channel.netns ? `ip netns exec ${channel.netns} ` : ''}sysctl -w ${op.key}=${op.value}`;
    case 'nft': {
      if (op.kind !== 'nft-apply') throw new Error('unreachable');
      const prefix = channel.netns ? `ip netns exec ${channel.netns} ` : '';
      return `${prefix}nft -f - <<'EOF'   # ${op.description}\n${op.script.trimEnd()}\nEOF`;
    }
    case 'iptables': {
      if (op.kind === 'iptables-remove') {
        return [
          `# ${op.description}`,
          ...op.jumps.map((j) => `while iptables -t ${j.table} -D ${j.chain} ${j.rule} 2>/dev/null; do :; done`),
          ...op.chains.map((c) => `iptables -t ${c.table} -F ${c.chain} 2>/dev/null; iptables -t ${c.table} -X ${c.chain} 2>/dev/null`),
        ].join('\n');
      }
      if (op.kind !== 'iptables-apply') throw new Error('unreachable');
      return [
        ...op.ensureChains.map((c) => `iptables -t ${c.table} -N ${c.chain} 2>/dev/null && ${c.rules.map((r) => `iptables -t ${c.table} -A ${c.chain} ${r}`).join(' && ')}`),
        `iptables-restore --noflush <<'EOF'   # ${op.description}\n${op.script.trimEnd()}\nEOF`,
        ...op.ensureJumps.map((j) => `iptables -t ${j.table} -C ${j.chain} ${j.rule} 2>/dev/null || iptables -t ${j.table} -I ${j.chain} 1 ${j.rule}`),
      ].join('\n');
    }
  }
}

/** A plan as a shell script: what `--dry-run` and `berth explain` print. */
export function renderPlan(plan: Plan): string {
  return plan.map(renderOp).join('\n');
}
