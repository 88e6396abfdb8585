import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import type { ClusterLink } from '../engine/context.js';
import { EtcdStore, type StoreLease } from '../store/etcd.js';
import type { CollectionWatch, WatchEvent } from '../store/etcd-watch.js';
import type { Collection } from '../store/store.js';

/**
 * Joining a cluster of berth hosts (part 7): `--cluster-store etcd://HOST:PORT[,...]` and
 * `--cluster-advertise ADDR`, dockerd's former flag names. The host is present in the
 * cluster store (`/berth/v1/hosts/<address>`) under a lease the daemon keeps alive: a
 * host that dies or is cut off for longer than the lease's TTL vanishes from every peer's
 * view; a clean stop revokes the lease at once.
 */
export interface ClusterOptions {
  /** etcd client URLs (http://HOST:PORT). */
  readonly endpoints: readonly string[];
  /** This host's address on the underlay: its VTEP, and its name in the cluster. */
  readonly advertise: string;
  readonly leaseTtlSeconds: number;
}

export const DEFAULT_LEASE_TTL_SECONDS = 10;

/** `etcd://HOST:PORT[,etcd://HOST:PORT...]` to etcd client URLs. */
export function parseClusterStore(value: string): string[] {
  return value.split(',').map((member) => {
    const m = /^etcd:\/\/([a-zA-Z0-9.-]+):(\d{1,5})$/.exec(member.trim());
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new InvalidArgumentError(`invalid --cluster-store "${quotePrefix(value)}"`, 'give etcd members as etcd://HOST:PORT, comma-separated, e.g. --cluster-store etcd://203.0.113.1:2379');
    }
    return `http://${m[1]!}:${m[2]!}`;
  });
}

export function parseClusterOptions(store: string | undefined, advertise: string | undefined, ttl: string | undefined): ClusterOptions | undefined {
  if (store === undefined) {
    if (advertise !== undefined || ttl !== undefined) throw new InvalidArgumentError('--cluster-advertise and --cluster-lease-ttl need --cluster-store', 'give the etcd members: --cluster-store etcd://HOST:PORT');
    return undefined;
  }
  if (advertise === undefined) throw new InvalidArgumentError('--cluster-store needs --cluster-advertise', "give this host's address on the network the hosts share, e.g. --cluster-advertise 203.0.113.10");
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(advertise) || advertise.split('.').some((b) => Number(b) > 255)) {
    throw new InvalidArgumentError(`invalid --cluster-advertise "${quotePrefix(advertise)}"`, "this host's IPv4 address on the network the hosts share, e.g. 203.0.113.10");
  }
  const seconds = ttl === undefined ? DEFAULT_LEASE_TTL_SECONDS : Number(ttl);
  if (!/^\d+$/.test(ttl ?? '10') || seconds < 2 || seconds > 60) throw new InvalidArgumentError(`invalid --cluster-lease-ttl "${quotePrefix(ttl ?? '')}"`, 'a whole number of seconds from 2 to 60');
  return { endpoints: parseClusterStore(store), advertise, leaseTtlSeconds: seconds };
}

/** What a host says of itself in the cluster store. */
export interface HostPresence {
  readonly address: string;
  readonly pid: number;
  readonly started: string;
}

/**
 * This host's membership: its presence and everything it holds (its endpoints) under one
 * lease, so a host that dies or is cut off vanishes from every peer's view in one step.
 * If etcd ever drops the lease while the daemon lives (a partition longer than the TTL),
 * a new lease is taken every half TTL until it works, and everything held is put again.
 */
export class ClusterMembership implements ClusterLink {
  private readonly held = new Map<string, { collection: Collection; id: string; value: unknown }>();
  private lease: StoreLease | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: ClusterOptions,
    readonly store: EtcdStore,
    private readonly log: (message: string) => void,
  ) {}

  get hostAddress(): string {
    return this.options.advertise;
  }

  static async join(options: ClusterOptions, log: (message: string) => void): Promise<ClusterMembership> {
    const store = new EtcdStore({ endpoints: options.endpoints, timeoutMs: 5000 });
    const membership = new ClusterMembership(options, store, log);
    const presence: HostPresence = { address: options.advertise, pid: process.pid, started: new Date().toISOString() };
    membership.held.set('hosts/' + options.advertise, { collection: 'hosts', id: options.advertise, value: presence });
    try {
      await membership.register();
    } catch (err) {
      store.close();
      throw err;
    }
    return membership;
  }

  /** A new lease with everything held put under it. */
  private async register(): Promise<void> {
    const lease = await this.store.openLease(this.options.leaseTtlSeconds);
    for (const { collection, id, value } of this.held.values()) await lease.put(collection, id, value);
    lease.onLost((reason) => {
      if (this.stopped || this.lease !== lease) return;
      this.log(`berth: this host's lease in the cluster store was lost (${reason}); registering again`);
      this.lease = undefined;
      this.registerLater();
    });
    this.lease = lease;
  }

  private registerLater(): void {
    this.retry = setTimeout(() => {
      if (!this.stopped) this.register().catch(() => this.registerLater());
    }, (this.options.leaseTtlSeconds * 1000) / 2);
  }

  watch(collection: Collection, handler: (events: readonly WatchEvent[]) => void): Promise<CollectionWatch> {
    return this.store.watch(collection, handler, { onResync: (reason) => this.log(`berth: re-reading ${collection} from the cluster store (${reason})`) });
  }

  async putHeld(collection: Collection, id: string, value: unknown): Promise<void> {
    this.held.set(`${collection}/${id}`, { collection, id, value });
    // Without a lease (being re-taken), the value goes in with the next one.
    await this.lease?.put(collection, id, value);
  }

  async deleteHeld(collection: Collection, id: string): Promise<void> {
    this.held.delete(`${collection}/${id}`);
    await this.store.delete(collection, id);
  }

  /** Leaves the cluster: the lease is revoked, so this host and its endpoints vanish at once. */
  async leave(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.lease?.revoke().catch(() => undefined);
    this.store.close();
  }
}
