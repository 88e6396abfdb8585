import type { Etcd3, IKeyValue, Watcher } from 'etcd3';

/**
 * One change to a watched collection. `reset` replaces everything reported before: the
 * collection as one read found it (the first batch, and after every resync).
 */
export type WatchEvent =
  | { readonly type: 'put'; readonly id: string; readonly value: unknown }
  | { readonly type: 'delete'; readonly id: string }
  | { readonly type: 'reset'; readonly values: ReadonlyMap<string, unknown> };

export interface CollectionWatch {
  /** The etcd revision the watcher's view is at. */
  readonly revision: number;
  stop(): Promise<void>;
}

export interface WatchOptions {
  /** Watch from this etcd revision on instead of from a fresh read (resuming where an earlier watch stopped). */
  readonly fromRevision?: number;
  /** Told when the watcher had to read everything again (a compaction, a cancelled stream), with why. */
  readonly onResync?: (reason: string) => void;
}

/**
 * A collection's contents as a stream of changes, nothing missed and nothing stale: a
 * full read first (a reset), then etcd's watch from the next revision. The etcd3 client
 * resumes a dropped stream from the last revision it saw by itself; when etcd can no
 * longer serve that revision (compacted) or cancels the watch, the collection is read
 * whole again and reported as a reset, and watching resumes from that read's revision.
 * Consumers hold desired state and diff it themselves, so a reset costs them one diff
 * (flannel's subnet watcher and Kubernetes' reflector work the same way).
 */
export class EtcdCollectionWatch implements CollectionWatch {
  private watcher: Watcher | undefined;
  private stopped = false;
  revision = 0;

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly handler: (events: readonly WatchEvent[]) => void,
    private readonly options: WatchOptions,
    private readonly parse: (kv: IKeyValue) => unknown,
  ) {}

  static async start(client: Etcd3, prefix: string, handler: (events: readonly WatchEvent[]) => void, options: WatchOptions, parse: (kv: IKeyValue) => unknown): Promise<EtcdCollectionWatch> {
    const watch = new EtcdCollectionWatch(client, prefix, handler, options, parse);
    if (options.fromRevision === undefined) await watch.resync();
    else await watch.follow(options.fromRevision);
    return watch;
  }

  private idOf(kv: IKeyValue): string {
    return kv.key.toString().slice(this.prefix.length);
  }

  /** Reads the collection whole, reports it as a reset, and follows from there. */
  private async resync(): Promise<void> {
    const response = await this.client.getAll().prefix(this.prefix).exec();
    this.handler([{ type: 'reset', values: new Map(response.kvs.map((kv) => [this.idOf(kv), this.parse(kv)])) }]);
    await this.follow(Number(response.header.revision) + 1);
  }

  private async follow(fromRevision: number): Promise<void> {
    if (this.stopped) return;
    this.revision = fromRevision - 1;
    const watcher = await this.client.watch().prefix(this.prefix).startRevision(String(fromRevision)).create();
    this.watcher = watcher;
    watcher.on('data', (res) => {
      const events = res.events.map((e): WatchEvent => (e.type === 'Delete' ? { type: 'delete', id: this.idOf(e.kv) } : { type: 'put', id: this.idOf(e.kv), value: this.parse(e.kv) }));
      this.revision = Math.max(this.revision, Number(res.header.revision));
      if (events.length > 0) this.handler(events);
    });
    // etcd cancels a watch it cannot serve from its revision without saying why: the
    // revision was compacted (the only cause for a watch on a prefix without auth).
    watcher.on('error', (err) => this.lost(watcher, err.message.replace(/^Watcher canceled: $/, 'etcd cancelled the watch: its start revision was compacted')));
  }

  private lost(watcher: Watcher, reason: string): void {
    if (this.stopped || this.watcher !== watcher) return;
    this.watcher = undefined;
    this.options.onResync?.(reason);
    void watcher.cancel().catch(() => undefined);
    this.resyncUntilDone();
  }

  /** A resync that fails (etcd unreachable) is tried again every second until it works or the watch stops. */
  private resyncUntilDone(): void {
    this.resync().catch((err: unknown) => {
      if (this.stopped) return;
      this.options.onResync?.(err instanceof Error ? err.message : String(err));
      setTimeout(() => this.resyncUntilDone(), 1000).unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watcher?.cancel();
  }
}
