import type { FirewallBackend } from '../firewall/backend.js';
import type { FirewallModel, FirewallPort } from '../firewall/model.js';
import type { Executor } from '../kernel/exec.js';
import type { KernelOp, Plan } from '../kernel/ops.js';
import type { ContainerTable } from './containers.js';
import type { ContainerRecord, EndpointRecord } from './model.js';
import { driverNetwork, type NetworkTable } from './networks.js';
import { driverEndpoint } from './endpoints.js';
import { readHostPorts } from '../kernel/host-ports.js';
import { allocateHostPorts, ephemeralRange, firewallPortsOf, type PublishedPort } from './ports.js';
import type { PortMapping } from '../common/portspec.js';
import type { ExternalEndpointTable } from './external/endpoints.js';

/**
 * Published ports between the engine's model and the firewall backend: which host ports a
 * container (or another runtime's endpoint) gets, the plan that publishes them, and
 * withdrawing them when it stops.
 */
export class PortPublisher {
  constructor(
    private readonly networks: NetworkTable,
    private readonly containers: ContainerTable,
    private readonly external: ExternalEndpointTable,
    private readonly executor: Executor,
    private readonly firewall: FirewallBackend,
  ) {}

  async allocate(mappings: readonly PortMapping[]): Promise<PublishedPort[]> {
    if (mappings.length === 0) return [];
    const taken = [
      ...this.containers.all().flatMap((c) => c.ports.map((p) => ({ ...p, owner: c.name }))),
      ...this.external.all().flatMap((r) => r.ports.map((p) => ({ ...p, owner: `endpoint ${r.endpoint.id.slice(0, 12)}` }))),
    ];
    return allocateHostPorts(mappings, taken, await readHostPorts(), await ephemeralRange());
  }

  /** The firewall's desired state now: every network, every running container's and external endpoint's ports (but `except`'s). */
  firewallModel(except?: string): FirewallModel {
    const external = this.external.all().filter((r) => r.endpoint.id !== except).flatMap((r) => r.ports.map((p) => ({ ...p, containerIp: r.endpoint.address })));
    return this.networks.firewallModel([...this.containers.all().filter((c) => c.id !== except).flatMap(firewallPortsOf), ...external]);
  }

  /**
   * Publishing on the endpoint's network: the firewall change on top of `before` (default:
   * the model now), and what its driver needs for it (the bridge: hairpin). Without ports,
   * nothing: the model (every running container's ports) is not built for a start that has none.
   */
  publishPlan(name: string, endpoint: EndpointRecord, ports: readonly PublishedPort[], before?: FirewallModel): Plan {
    if (ports.length === 0) return [];
    const network = this.networks.addressedById(endpoint.networkId);
    const connectivity = this.networks.driverOf(network).externalConnectivity?.(driverNetwork(network), driverEndpoint(endpoint)) ?? [];
    return [...connectivity, ...publishPlan(this.firewall, before ?? this.firewallModel(), name, endpoint.address, ports)];
  }

  /**
   * The firewall change that takes `before`'s published ports to `after`'s (the same
   * container after a disconnect: its ports follow the new gateway endpoint, or go).
   */
  movePlan(before: ContainerRecord, after: ContainerRecord): KernelOp {
    const removed = firewallPortsOf(before);
    const added = firewallPortsOf(after);
    const others = this.firewallModel(before.id);
    return this.firewall.changePorts(`move ports of ${before.name}`, {
      before: { ...others, ports: [...others.ports, ...removed] },
      after: { ...others, ports: [...others.ports, ...added] },
      added,
      removed,
    });
  }

  /** Withdraws a container's ports. */
  unpublish(container: ContainerRecord): Promise<void> {
    return this.unpublishPorts(container.id, container.name, firewallPortsOf(container));
  }

  /** Withdraws the ports `owner` (a container or external endpoint id) holds; if the rules are not as expected, rewrites them all from the model. */
  async unpublishPorts(owner: string, name: string, removed: readonly FirewallPort[]): Promise<void> {
    const plan = this.unpublishPlan(owner, name, removed);
    if (plan.length === 0) return;
    try {
      await this.executor.apply(plan);
    } catch {
      await this.executor.apply([this.firewall.replaceAll('reload berth rules', this.firewallModel(owner))]);
    }
  }

  /** The firewall change that withdraws `removed`, the ports `owner` holds. */
  unpublishPlan(owner: string, name: string, removed: readonly FirewallPort[]): Plan {
    if (removed.length === 0) return [];
    return [this.firewall.changePorts(`unpublish ports of ${name}`, { before: this.firewallModel(), after: this.firewallModel(owner), added: [], removed })];
  }
}

/**
 * Publishing a container's ports is one firewall change of just those ports (nftables:
 * map elements, O(the change)) on top of `before`.
 */
export function publishPlan(firewall: FirewallBackend, before: FirewallModel, name: string, containerIp: string, ports: readonly PublishedPort[]): Plan {
  if (ports.length === 0) return [];
  const added: FirewallPort[] = ports.map((p) => ({ ...p, containerIp }));
  const after = { ...before, ports: [...before.ports, ...added] };
  return [firewall.changePorts(`publish ports of ${name}`, { before, after, added, removed: [] })];
}
