import { InvalidArgumentError, quotePrefix } from '../common/errors.js';
import { EtcdStore, type HeldValue } from '../store/etcd.js';

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
 * Registers this host under a lease; if etcd ever drops the lease while the daemon lives
 * (a partition longer than the TTL), registers again every half TTL until it succeeds.
 */
export async function joinCluster(options: ClusterOptions, log: (message: string) => void): Promise<{ leave(): Promise<void> }> {
  const store = new EtcdStore({ endpoints: options.endpoints, timeoutMs: 5000 });
  const presence: HostPresence = { address: options.advertise, pid: process.pid, started: new Date().toISOString() };
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const hold = async (): Promise<HeldValue> => {
    const held = await store.holdWhileAlive('hosts', options.advertise, presence, options.leaseTtlSeconds);
    held.onLost((reason) => {
      if (stopped) return;
      log(`berth: this host's lease in the cluster store was lost (${reason}); registering again`);
      const again = (): void => {
        retry = setTimeout(() => {
          if (stopped) return;
          hold().then((h) => (current = h), again);
        }, (options.leaseTtlSeconds * 1000) / 2);
      };
      again();
    });
    return held;
  };
  let current: HeldValue;
  try {
    current = await hold();
  } catch (err) {
    store.close();
    throw err;
  }
  return {
    async leave() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await current.release().catch(() => undefined);
      store.close();
    },
  };
}
