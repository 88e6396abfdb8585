import type { Plan } from '../kernel/ops.js';

/**
 * A network driver turns the model of a network and its endpoints into kernel plans. It
 * never touches the kernel itself (the engine hands its plans to an executor), so what a
 * driver does can be read, tested and rendered as shell text without root.
 *
 * Modelled on libnetwork's driverapi: one small contract; capabilities that only some
 * drivers have (port mapping, overlay peers) will be separate interfaces.
 */
export interface NetworkSpec {
  readonly id: string;
  readonly name: string;
  /** The Linux bridge (or parent link) the network is built on. */
  readonly bridge: string;
  readonly subnet: string; // CIDR, e.g. "172.17.0.0/16"
  readonly gateway: string; // e.g. "172.17.0.1"
  readonly mtu?: number;
}

export interface EndpointSpec {
  readonly id: string;
  /** Interface name inside the sandbox: eth0, eth1, ... in attach order. */
  readonly ifname: string;
  /** Interface name on the host side (bridge driver: "veth" + 7 hex). */
  readonly hostIfname: string;
  readonly address: string; // e.g. "172.17.0.2"
  readonly prefixLength: number;
  readonly mac: string;
  /** Whether this endpoint provides the sandbox's default route. */
  readonly isGatewayEndpoint: boolean;
}

export interface NetworkDriver {
  readonly type: string;
  /** Creates the network's objects on this host (for bridge: the bridge with its gateway address). */
  createNetwork(network: NetworkSpec): Plan;
  /** Removes them; the plan must succeed when objects are already gone. */
  deleteNetwork(network: NetworkSpec): Plan;
  /** Attaches the sandbox `netns` to the network through `endpoint`. */
  join(network: NetworkSpec, netns: string, endpoint: EndpointSpec): Plan;
  /** Detaches it. Host-side objects only: deleting the sandbox removes the rest. */
  leave(network: NetworkSpec, netns: string, endpoint: EndpointSpec): Plan;
}
