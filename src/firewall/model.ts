/**
 * What the firewall must enforce, derived from the engine's model. Backends compile this
 * desired state into a whole ruleset; they never edit rules one by one.
 */
export interface FirewallNetwork {
  readonly bridge: string;
  readonly subnet: string; // CIDR
  /** Internal networks get no masquerade and no way out (part 3). */
  readonly internal: boolean;
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
