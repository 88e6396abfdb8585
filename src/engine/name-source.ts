import type { ChangeCounter } from '../common/change-counter.js';
import { readFileSync } from 'node:fs';
import { buildNameIndex, type DnsEndpoint, type NameIndex } from '../dns/names.js';
import type { ResolverSource } from '../dns/resolver.js';
import { FALLBACK_NAMESERVERS, parseResolvConf, type ResolvConf } from '../dns/resolvconf.js';
import type { ContainerTable } from './containers.js';
import type { ContainerRecord } from './model.js';
import type { NetworkTable } from './networks.js';

/** How long the host's resolv.conf is trusted before it is read again for upstream servers. */
const HOST_RESOLV_TTL_MS = 1000;

/**
 * The embedded resolver's view of the engine: names of running containers on user-defined
 * networks (the default bridge resolves no names, as in Docker). The index is rebuilt
 * only when a table changed, and at once then: a record exists when `run` returns and is
 * gone when `rm`, `stop` or `network disconnect` returns.
 */
export class TableNameSource implements ResolverSource {
  private cached: { key: string; index: NameIndex } | undefined;
  private hostResolv: { readAt: number; conf: ResolvConf } | undefined;

  constructor(
    private readonly networks: NetworkTable,
    private readonly containers: ContainerTable,
    private readonly config: { readonly hostResolvConfPath: string; readonly dnsServers: readonly string[] },
    /** Other hosts' containers on global networks (absent outside a cluster). */
    private readonly remote: () => { readonly changes: ChangeCounter; remoteNames(): DnsEndpoint[] } | undefined = () => undefined,
  ) {}

  index(): NameIndex {
    const key = `${this.containers.changes.count}/${this.networks.changes.count}/${this.remote()?.changes.count ?? 0}`;
    if (this.cached?.key !== key) {
      const networkNames = this.networks.all().filter((n) => this.networks.servesNames(n)).map((n) => n.name);
      this.cached = { key, index: buildNameIndex(this.endpoints(), networkNames) };
    }
    return this.cached.index;
  }

  networksOf(containerId: string): readonly string[] {
    const c = this.containers.byIdExact(containerId);
    if (!c) return [];
    return c.endpoints.map((e) => e.networkId).filter((id) => this.networks.servesNames(this.networks.byIdExact(id)));
  }

  /**
   * Whether the container has a way out: an endpoint on a network that is not internal.
   * Without one, nothing may be asked upstream on its behalf (Docker and aardvark-dns do
   * not forward for internal networks either).
   */
  mayForward(containerId: string): boolean {
    const c = this.containers.byIdExact(containerId);
    return c !== undefined && c.endpoints.some((e) => this.networks.byIdExact(e.networkId)?.internal === false);
  }

  /** The container's --dns, else the daemon's --dns, else the host's nameservers (loopback ones work from here). */
  upstreamsOf(containerId: string): readonly string[] {
    const own = this.containers.byIdExact(containerId)?.dns.nameservers ?? [];
    if (own.length > 0) return own;
    if (this.config.dnsServers.length > 0) return this.config.dnsServers;
    const host = this.hostResolvConf().nameservers;
    return host.length > 0 ? host : FALLBACK_NAMESERVERS;
  }

  private endpoints(): DnsEndpoint[] {
    const out: DnsEndpoint[] = [];
    for (const c of this.containers.all().filter((x: ContainerRecord) => x.state.status === 'running')) {
      for (const ep of c.endpoints) {
        const network = this.networks.byIdExact(ep.networkId);
        if (!this.networks.servesNames(network)) continue;
        const aliases = c.networks.find((a) => a.networkId === ep.networkId)?.aliases ?? [];
        out.push({ containerId: c.id, containerName: c.name, networkId: network.id, networkName: network.name, address: ep.address, aliases });
      }
    }
    return [...out, ...(this.remote()?.remoteNames() ?? [])];
  }

  private hostResolvConf(): ResolvConf {
    const now = Date.now();
    if (!this.hostResolv || now - this.hostResolv.readAt > HOST_RESOLV_TTL_MS) {
      let text = '';
      try {
        text = readFileSync(this.config.hostResolvConfPath, 'utf8');
      } catch {
        // no resolv.conf: no host nameservers
      }
      this.hostResolv = { readAt: now, conf: parseResolvConf(text) };
    }
    return this.hostResolv.conf;
  }
}
