/**
 * What the firewall must enforce, derived from the engine's model. Backends compile this
 * desired state into a whole ruleset; they never edit rules one by one.
 */
export interface FirewallNetwork {
  readonly bridge: string;
  readonly subnet: string; // CIDR
  /** Internal networks get no masquerade and no way out (part 3). */
  readonly internal: boolean;
  /**
   * Whether its containers may reach the host's own services. Without it, what a container
   * sends to the host itself (its input path) is dropped but for replies and ping;
   * published ports are forwarded, not input, so they answer either way.
   */
  readonly hostAccess: boolean;
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** One published port: traffic to hostIp:hostPort goes to containerIp:containerPort. */
export interface FirewallPort {
  readonly protocol: PortProtocol;
  /** "" = every local address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerIp: string;
  readonly containerPort: number;
}

export interface FirewallModel {
  readonly networks: readonly FirewallNetwork[];
  readonly ports: readonly FirewallPort[];
}
