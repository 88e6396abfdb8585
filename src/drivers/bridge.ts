import { randomBytes } from 'node:crypto';
import { ipv4Bytes, parseCidr, parseIpv4 } from '../common/ipv4.js';
import type { KernelOp, Plan } from '../kernel/ops.js';
import type { EndpointSpec, NetworkDriver, NetworkSpec } from './driver.js';

/**
 * The bridge driver, as the seeds draw docker0: a Linux bridge holding the gateway
 * address, one veth pair per endpoint with the host end enslaved to the bridge and the
 * other end inside the sandbox as eth0, eth1, ...
 */
export class BridgeDriver implements NetworkDriver {
  readonly type = 'bridge';

  createNetwork(network: NetworkSpec): Plan {
    const { prefixLength } = parseCidr(network.subnet);
    return [
      { kind: 'bridge-add', name: network.bridge, mtu: network.mtu },
      { kind: 'link-alias', dev: network.bridge, alias: bridgeOwnerAlias(network.id) },
      { kind: 'addr-add', dev: network.bridge, cidr: `${network.gateway}/${prefixLength}` },
      { kind: 'link-up', dev: network.bridge },
    ];
  }

  deleteNetwork(network: NetworkSpec): Plan {
    return [{ kind: 'link-del', dev: network.bridge }];
  }

  join(network: NetworkSpec, netns: string, endpoint: EndpointSpec): Plan {
    const ops: KernelOp[] = [
      {
        kind: 'veth-add',
        hostName: endpoint.hostIfname,
        master: network.bridge,
        peerName: endpoint.ifname,
        peerMac: endpoint.mac,
        peerNetns: netns,
        mtu: network.mtu,
      },
      { kind: 'addr-add', netns, dev: endpoint.ifname, cidr: `${endpoint.address}/${endpoint.prefixLength}` },
      { kind: 'link-up', netns, dev: endpoint.ifname },
    ];
    if (endpoint.isGatewayEndpoint) ops.push({ kind: 'route-add', netns, dst: 'default', via: network.gateway });
    return ops;
  }

  leave(_network: NetworkSpec, _netns: string, endpoint: EndpointSpec): Plan {
    // Deleting one end of a veth pair deletes both, synchronously (a netns deletion would
    // take the peer down only ~100 ms later, asynchronously).
    return [{ kind: 'link-del', dev: endpoint.hostIfname }];
  }
}

/** The alias berth gives the bridges it creates: reconcile removes those no network record owns. */
export const BRIDGE_ALIAS_PREFIX = 'berth-network:';

export function bridgeOwnerAlias(networkId: string): string {
  return `${BRIDGE_ALIAS_PREFIX}${networkId}`;
}

/** Docker's MAC for an IPv4 endpoint: 02:42 followed by the four address bytes. */
export function macForAddress(address: string): string {
  const bytes = [0x02, 0x42, ...ipv4Bytes(parseIpv4(address))];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Host-side veth name: "veth" + 7 hex digits, as Docker names them (15 chars max is the kernel's IFNAMSIZ). */
export function hostVethName(random: () => Buffer = () => randomBytes(4)): string {
  return `veth${random().toString('hex').slice(0, 7)}`;
}
