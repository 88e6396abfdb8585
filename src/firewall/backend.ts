import type { KernelOp } from '../kernel/ops.js';
import type { FirewallModel, FirewallNetwork, FirewallPort } from './model.js';

/**
 * A firewall backend turns the desired model into kernel ops. Modelled on libnetwork's
 * firewaller: one contract, two implementations (nftables.ts, iptables.ts), one
 * behavioural test suite both pass. A backend never touches rules it does not own.
 */
export interface FirewallBackend {
  readonly name: FirewallBackendName;
  /**
   * Makes berth's rules exactly `after`, whatever they were (daemon start, recovery).
   * The op's undo restores `before` (or removes berth's rules when undefined).
   */
  replaceAll(description: string, after: FirewallModel, before?: FirewallModel): KernelOp;
  /**
   * Publishes and withdraws ports: `before` and `after` differ only by `added`/`removed`.
   * nftables changes just those map elements; iptables rebuilds its chains (Docker's
   * layout has one rule per port, so there is nothing smaller to change).
   */
  changePorts(description: string, change: PortChange): KernelOp;
  /**
   * Adds and removes networks: `before` and `after` differ only by `added`/`removed` (and
   * their ports, none). nftables changes just those networks' chains and map elements;
   * iptables rebuilds its chains.
   */
  changeNetworks(description: string, change: NetworkChange): KernelOp;
  /**
   * Removes every rule and chain this backend owns, whatever is there; succeeds when
   * nothing is. The daemon runs it for the backends it is not using, so switching
   * --firewall never leaves the old backend's rules forwarding ports.
   */
  removeAll(description: string): KernelOp;
  /**
   * How to tell from the kernel whether berth's rules for `model` are still in place (drift
   * repair): commands to run, each with text its output must contain. Coarse on purpose:
   * it catches what wipes rules wholesale (`nft flush ruleset`, `iptables -F`, a deleted
   * table or chain), at the price of one or two processes per check.
   */
  presence(model: FirewallModel): readonly PresenceCheck[];
}

/** A command whose output must hold every one of `mustContain` (and which must succeed). */
export interface PresenceCheck {
  readonly command: readonly string[];
  readonly mustContain: readonly string[];
}

export interface PortChange {
  readonly before: FirewallModel;
  readonly after: FirewallModel;
  readonly added: readonly FirewallPort[];
  readonly removed: readonly FirewallPort[];
}

export interface NetworkChange {
  readonly before: FirewallModel;
  readonly after: FirewallModel;
  readonly added: readonly FirewallNetwork[];
  readonly removed: readonly FirewallNetwork[];
}

export const FIREWALL_BACKENDS = ['nftables', 'iptables'] as const;
export type FirewallBackendName = (typeof FIREWALL_BACKENDS)[number];
