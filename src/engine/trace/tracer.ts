import { ConflictError } from '../../common/errors.js';
import { parseNftRuleset, type NftRuleset } from '../../firewall/nft-eval.js';
import { reasonFor } from '../../firewall/nft-reasons.js';
import { listens, routeGet } from '../../kernel/path-probe.js';
import { TRACE_TABLE } from '../../kernel/nftrace.js';
import { hostAddresses } from '../../kernel/read.js';
import { runTool } from '../../kernel/spawn.js';
import type { ContainerTable } from '../containers.js';
import { hasAddresses, type ContainerRecord } from '../model.js';
import type { PeerRecord } from '../cluster-sync.js';
import type { EndpointPath } from '../../drivers/driver.js';
import { parseNetworkMode } from '../modes.js';
import { driverNetwork, type NetworkTable } from '../networks.js';
import { modelPath, type PathFacts, type TracedEndpoint, type PathSource, type PathTarget, type TraceResult } from './model.js';
import { probePath } from './probe.js';
import { endLabel, type TraceEnd, type TraceRequest } from './spec.js';

/** A trace's answer: what was traced, and what each method asked found. */
export interface TraceAnswer extends TraceResult {
  readonly src: string;
  readonly dst: string;
  readonly address: string;
  readonly proto: string;
  readonly port?: number;
}

/**
 * `berth trace`: resolves the two ends against the records (a container's namespace and
 * the address the source would use for the destination: one on a network they share, else
 * its main one), then runs the model or the probe.
 */
export class Tracer {
  constructor(
    private readonly networks: NetworkTable,
    private readonly containers: ContainerTable,
    /** Other hosts' endpoints on overlay networks. */
    private readonly remote: () => readonly PeerRecord[],
    /** Where a probe keeps what it runs under its own task name (the daemon's data root). */
    private readonly probeSenderDir: string,
  ) {}

  async trace(request: TraceRequest, opts: { readonly probe: boolean }): Promise<TraceAnswer> {
    const source = this.source(request.src);
    const target = await this.target(request, source);
    const facts = this.facts();
    const result = opts.probe ? await probePath(source, target, facts, this.probeSenderDir) : await modelPath(source, target, facts);
    return { ...result, src: endLabel(request.src), dst: endLabel(request.dst), address: target.address, proto: target.proto, ...(target.port === undefined ? {} : { port: target.port }) };
  }

  private source(end: TraceEnd): PathSource {
    if (end.kind === 'host') return { kind: 'host', label: 'host' };
    if (end.kind === 'outside') return { kind: 'outside', label: `outside:${end.address}`, address: end.address };
    const c = this.running(end.ref);
    const stack = this.stackOf(c);
    return stack === undefined ? { kind: 'host', label: c.name } : { kind: 'sandbox', label: c.name, netns: stack.netns, pid: stack.pid };
  }

  private async target(request: TraceRequest, source: PathSource): Promise<PathTarget> {
    const base = { proto: request.proto, ...(request.port === undefined ? {} : { port: request.port }) };
    const end = request.dst;
    if (end.kind === 'outside') return { ...base, label: `outside:${end.address}`, address: end.address };
    // Another host's container on an overlay network is known by its name there, as DNS knows it.
    if (end.kind === 'container' && !this.containers.find(end.ref)) {
      const remote = this.remote().find((p) => p.containerName === end.ref);
      if (remote) return { ...base, label: end.ref, address: remote.address };
    }
    if (end.kind === 'host' || this.stackOf(this.running(end.ref)) === undefined) {
      return { ...base, label: end.kind === 'host' ? 'host' : end.ref, address: await this.hostAddressFor(source) };
    }
    const dst = this.running(end.ref);
    const owner = this.sandboxOwner(dst);
    const sourceNetworks = new Set(source.kind === 'sandbox' ? this.sandboxEndpoints(source.netns).map((e) => e.networkId) : []);
    const endpoint = owner.endpoints.find((e) => sourceNetworks.has(e.networkId)) ?? owner.endpoints.find((e) => e.gatewayEndpoint) ?? owner.endpoints[0];
    if (!endpoint) throw new ConflictError(`container ${dst.name} has no address (network none)`, 'connect it to a network first');
    return { ...base, label: dst.name, address: endpoint.address };
  }

  /** How the source names the host: its gateway from a container, 127.0.0.1 on the host, the uplink's address from outside. */
  private async hostAddressFor(source: PathSource): Promise<string> {
    if (source.kind === 'host') return '127.0.0.1';
    if (source.kind === 'outside') {
      const route = await routeGet(undefined, source.address);
      if (!route.ok || !route.source) throw new ConflictError(`the host has no route to ${source.address}`, 'give an address the host reaches');
      return route.source;
    }
    const endpoints = this.sandboxEndpoints(source.netns);
    const endpoint = endpoints.find((e) => e.gatewayEndpoint) ?? endpoints[0];
    const path = endpoint ? this.pathOf(endpoint.networkId) : undefined;
    if (path?.kind === 'lan') {
      // On a LAN the gateway is the LAN's router: the host is its address on the parent.
      const onParent = hostAddresses().get(path.hostLink ?? path.parent)?.[0];
      if (!onParent) throw new ConflictError(`the host has no address on ${path.parent}, ${source.label}'s LAN`, 'trace to a container or an outside address instead');
      return onParent.split('/')[0]!;
    }
    if (!endpoint?.gateway) throw new ConflictError(`${source.label} has no gateway: it cannot name the host`, 'trace to a container instead');
    return endpoint.gateway;
  }

  private running(ref: string): ContainerRecord {
    const c = this.containers.get(ref);
    if (c.state.status !== 'running') throw new ConflictError(`container ${c.name} is not running: it has no network to trace`, `start it first: berth start ${c.name}`);
    return c;
  }

  /** The namespace a container's processes use (undefined: the host's). */
  private stackOf(c: ContainerRecord): { netns: string; pid: number } | undefined {
    const mode = parseNetworkMode(c.networkMode);
    if (mode.kind === 'host') return undefined;
    const owner = this.sandboxOwner(c);
    return { netns: owner.netns, pid: owner.state.pid };
  }

  /** A container:NAME container uses the namespace (and endpoints) of NAME. */
  private sandboxOwner(c: ContainerRecord): ContainerRecord {
    const mode = parseNetworkMode(c.networkMode);
    return mode.kind === 'container' ? (this.containers.byIdExact(mode.container) ?? c) : c;
  }

  private sandboxEndpoints(netns: string) {
    return this.containers.all().find((c) => c.netns === netns && c.state.status === 'running' && parseNetworkMode(c.networkMode).kind !== 'container')?.endpoints ?? [];
  }

  /** The way out of an endpoint on the network, as its driver describes it. */
  private pathOf(networkId: string): EndpointPath | undefined {
    const network = this.networks.byIdExact(networkId);
    if (!network || !hasAddresses(network)) return undefined;
    return this.networks.driverOf(network).pathOf?.(driverNetwork(network));
  }

  private facts(): PathFacts {
    let ruleset: Promise<NftRuleset> | undefined;
    let addresses: Promise<ReadonlySet<string>> | undefined;
    let endpoints: (TracedEndpoint & { netns: string })[] | undefined;
    const all = () =>
      (endpoints ??= this.containers.all().flatMap((c) =>
        c.state.status !== 'running'
          ? []
          : c.endpoints.map((e) => {
              const path = this.pathOf(e.networkId);
              return { container: c.name, pid: c.state.pid, ifname: e.ifname, network: this.networks.byIdExact(e.networkId)?.name ?? e.networkId, address: e.address, netns: c.netns, ...(e.hostIfname ? { hostIfname: e.hostIfname } : {}), ...(path ? { path } : {}) };
            }),
      ));
    const bridgeNames = new Map(
      this.networks.addressed().flatMap((n) => {
        const path = this.pathOf(n.id);
        return path && path.kind !== 'lan' ? [[path.bridge, n.name] as const] : [];
      }),
    );
    const remote = this.remote;
    return {
      routeGet,
      listens,
      ruleset: () => (ruleset ??= readRuleset()),
      // A failed read rejects (the model reads it in the background first), rather than throwing at the caller.
      hostAddresses: () => (addresses ??= new Promise((resolve) => resolve(new Set([...hostAddresses().values()].flat().map((cidr) => cidr.split('/')[0]!))))),
      networkOfBridge: (bridge) => bridgeNames.get(bridge),
      endpoints: all,
      endpointOf: (netns, ifname) => all().find((e) => e.netns === netns && e.ifname === ifname),
      remotePeer: (network, address) => {
        const peer = remote().find((p) => this.networks.byIdExact(p.network)?.name === network && p.address === address);
        return peer ? { container: peer.containerName, vtep: peer.vtep } : undefined;
      },
      reasonFor: (rule) => reasonFor(rule, (bridge) => (bridgeNames.get(bridge) ? `network ${bridgeNames.get(bridge)!}` : bridge)),
    };
  }
}

/** The host's whole ruleset: berth's table with --firewall nftables, iptables-nft's tables with iptables, and anyone else's. */
async function readRuleset(): Promise<NftRuleset> {
  const listed = await runTool('nft', ['-a', 'list', 'ruleset']);
  const ruleset = parseNftRuleset(listed.code === 0 ? listed.stdout : '');
  // A probe's marking table lives only while it runs, and decides nothing.
  return { tables: ruleset.tables.filter((t) => t.id !== `inet ${TRACE_TABLE}`) };
}
