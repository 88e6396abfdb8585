import { Etcd3, type IKeyValue, type Lease } from 'etcd3';
import { BerthError, ConflictError } from '../common/errors.js';
import { EtcdCollectionWatch, type CollectionWatch, type WatchEvent, type WatchOptions } from './etcd-watch.js';
import { revisionConflictMessage, type Collection, type WriteOptions, type Store, type StoredValue } from './store.js';

/**
 * The store on etcd, for what several hosts share (part 7's overlay networks): one key per
 * value under `<prefix><collection>/<id>`, JSON, with etcd's per-key version as the
 * revision (1 when created, +1 per write, back to 0 when deleted — the Store contract's
 * numbering exactly). A conditional write is one etcd transaction comparing that version,
 * so two daemons can never both create the same key or overwrite each other's change.
 * Every call has a deadline: with etcd's quorum lost, an operation fails within
 * `timeoutMs` with an error naming the cluster store instead of hanging.
 */
export const ETCD_SCHEMA_PREFIX = '/berth/v1/';

export interface EtcdStoreOptions {
  readonly endpoints: readonly string[];
  /** Prefix of every key; the schema version is part of it. */
  readonly prefix?: string;
  /** Deadline of each call to etcd. */
  readonly timeoutMs?: number;
}

/** A lease this process keeps alive (EtcdStore.openLease): the values put under it live as long as it does. */
export interface StoreLease {
  put(collection: Collection, id: string, value: unknown): Promise<void>;
  /** Ends the lease now: every value under it is deleted for every reader. */
  revoke(): Promise<void>;
  /** Called when etcd says the lease is gone while this process lives (cut off longer than the TTL). */
  onLost(handler: (reason: string) => void): void;
}

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: EtcdStoreOptions) {
    this.prefix = options.prefix ?? ETCD_SCHEMA_PREFIX;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: this.timeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
    });
  }

  close(): void {
    this.client.close();
  }

  private key(collection: Collection, id: string): string {
    return `${this.prefix}${collection}/${id}`;
  }

  async list(collection: Collection, idPrefix = ''): Promise<StoredValue[]> {
    const prefix = this.key(collection, '');
    const response = await this.call('list', () => this.client.getAll().prefix(prefix + idPrefix).exec());
    return response.kvs.map((kv) => this.stored(kv, kv.key.toString().slice(prefix.length)));
  }

  async get(collection: Collection, id: string): Promise<StoredValue | undefined> {
    const response = await this.call('get', () => this.client.get(this.key(collection, id)).exec());
    const kv = response.kvs[0];
    return kv ? this.stored(kv, id) : undefined;
  }

  async put(collection: Collection, id: string, value: unknown, opts: WriteOptions = {}): Promise<number> {
    const key = this.key(collection, id);
    // One transaction: compare the version (or nothing), write, read the new version back.
    const [op, version] = opts.expectedRevision === undefined ? (['>', -1] as const) : (['==', opts.expectedRevision] as const);
    const result = await this.call('put', () =>
      this.client
        .if(key, 'Version', op, version)
        .then(this.client.put(key).value(JSON.stringify(value)), this.client.get(key))
        .else(this.client.get(key))
        .commit(),
    );
    const kvs = result.responses.at(-1)?.response_range?.kvs ?? [];
    const current = kvs[0] ? Number(kvs[0].version) : 0;
    if (!result.succeeded) throw new ConflictError(revisionConflictMessage(collection, id, opts.expectedRevision ?? 0, current));
    return current;
  }

  create(collection: Collection, id: string, value: unknown): Promise<number> {
    return this.put(collection, id, value, { expectedRevision: 0 });
  }

  /**
   * A lease the client keeps alive: values put under it (a host's presence, its endpoints)
   * vanish for every reader when the process dies or is cut off from the quorum for
   * `ttlSeconds`; `revoke` removes them at once (a clean stop).
   */
  async openLease(ttlSeconds: number): Promise<StoreLease> {
    const lease: Lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    try {
      await this.call('lease grant', () => lease.grant());
    } catch (err) {
      lease.release();
      throw err;
    }
    return {
      put: async (collection, id, value) => {
        await this.call('put', () => lease.put(this.key(collection, id)).value(JSON.stringify(value)).exec());
      },
      revoke: () => this.call('lease revoke', () => lease.revoke()),
      onLost: (handler) => void lease.on('lost', (err) => handler(err.message)),
    };
  }

  /**
   * Every value of `collection` as it changes (etcd-watch.ts): first the whole collection,
   * then each change, resynced whole after a compaction or a cancelled stream.
   */
  watch(collection: Collection, handler: (events: readonly WatchEvent[]) => void, options: WatchOptions = {}): Promise<CollectionWatch> {
    const prefix = this.key(collection, '');
    return this.call('watch', () => EtcdCollectionWatch.start(this.client, prefix, handler, options, (kv) => this.stored(kv, '').value));
  }

  async delete(collection: Collection, id: string, opts: WriteOptions = {}): Promise<void> {
    const key = this.key(collection, id);
    if (opts.expectedRevision === undefined) {
      await this.call('delete', () => this.client.delete().key(key).exec());
      return;
    }
    const expected = opts.expectedRevision;
    // One transaction, as for put: compare the version, delete, or read what is there instead.
    const result = await this.call('delete', () => this.client.if(key, 'Version', '==', expected).then(this.client.delete().key(key)).else(this.client.get(key)).commit());
    if (!result.succeeded) {
      const kvs = result.responses.at(-1)?.response_range?.kvs ?? [];
      throw new ConflictError(revisionConflictMessage(collection, id, expected, kvs[0] ? Number(kvs[0].version) : 0));
    }
  }

  private stored(kv: IKeyValue, id: string): StoredValue {
    try {
      return { id, value: JSON.parse(kv.value.toString()) as unknown, revision: Number(kv.version) };
    } catch (err) {
      throw new BerthError('internal', `the cluster store holds an unreadable value at ${kv.key.toString()}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }

  /** Runs one etcd call; any failure to reach a quorum in time names the cluster store. */
  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError(
        'unavailable',
        `the cluster store (etcd at ${this.options.endpoints.join(', ')}) did not answer a ${what} within ${this.timeoutMs / 1000} s: ${err instanceof Error ? err.message : String(err)}`,
        'check that a quorum of the etcd members runs and is reachable from this host',
        { cause: err },
      );
    }
  }
}
