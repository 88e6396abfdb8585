import type { Store } from '../store/store.js';
import { parseContainerRecord, parseEndpointRecord, type ContainerRecord, type EndpointRecord } from './model.js';

/**
 * Containers and their endpoints in the store, each endpoint a record of its own
 * (collection `endpoints`, keyed by its id, naming its container), as libnetwork keeps
 * endpoints apart from sandboxes: an endpoint has its own revision, and part 7's overlay
 * can publish endpoints under keys of their own for other hosts to watch.
 *
 * The container's record lists its endpoint ids in order and is the commit point. A save
 * writes new or changed endpoints first and removes dropped ones last, so a crash in
 * between leaves only endpoint records no container lists: load reports them as strays,
 * which reconcile deletes (their addresses were never reserved). In memory the engine
 * keeps each container with its endpoints, as it always did.
 */
export class ContainerRecords {
  /** What was last written (or read) of each container's endpoints: id → JSON, so unchanged endpoints are not rewritten. */
  private readonly written = new Map<string, Map<string, string>>();

  /** Told of every container saved or removed (the cluster publishes endpoints on global networks). */
  private observer: ((record: ContainerRecord, removed: boolean) => Promise<void>) | undefined;

  constructor(private readonly store: Store) {}

  observe(observer: (record: ContainerRecord, removed: boolean) => Promise<void>): void {
    this.observer = observer;
  }

  async save(record: ContainerRecord): Promise<void> {
    const before = this.written.get(record.id) ?? new Map<string, string>();
    const after = new Map<string, string>();
    for (const endpoint of record.endpoints) {
      const value = storedEndpoint(record.id, endpoint);
      const json = JSON.stringify(value);
      if (before.get(endpoint.id) !== json) await this.store.put('endpoints', endpoint.id, value);
      after.set(endpoint.id, json);
    }
    const { endpoints, ...container } = record;
    await this.store.put('containers', record.id, { ...container, endpointIds: endpoints.map((e) => e.id) });
    this.written.set(record.id, after);
    for (const id of before.keys()) if (!after.has(id)) await this.store.delete('endpoints', id);
    await this.observer?.(record, false);
  }

  /** The container first: once it is gone, its endpoints are strays even if deleting them is cut short. */
  async remove(record: ContainerRecord): Promise<void> {
    await this.store.delete('containers', record.id);
    const ids = new Set([...record.endpoints.map((e) => e.id), ...(this.written.get(record.id)?.keys() ?? [])]);
    for (const id of ids) await this.store.delete('endpoints', id);
    this.written.delete(record.id);
    await this.observer?.(record, true);
  }

  /**
   * Every container with its endpoints, and the ids of endpoint records no container
   * lists. Containers written before endpoints had records of their own hold them inline;
   * they read the same, and their endpoints move to records of their own at their next save.
   */
  async load(): Promise<{ containers: ContainerRecord[]; strayEndpoints: string[] }> {
    const endpoints = new Map<string, EndpointRecord & { readonly containerId: string }>();
    for (const stored of await this.store.list('endpoints')) endpoints.set(stored.id, parseEndpointRecord(stored.value));
    const containers = (await this.store.list('containers')).map((stored) => parseContainerRecord(stored.value, endpoints));
    const listed = new Set<string>();
    for (const c of containers) {
      const mine = new Map<string, string>();
      for (const e of c.endpoints) {
        listed.add(e.id);
        const stored = endpoints.get(e.id);
        if (stored?.containerId === c.id) mine.set(e.id, JSON.stringify(storedEndpoint(c.id, e)));
      }
      this.written.set(c.id, mine);
    }
    return { containers, strayEndpoints: [...endpoints.keys()].filter((id) => !listed.has(id)) };
  }

  async deleteStrays(ids: readonly string[]): Promise<void> {
    for (const id of ids) await this.store.delete('endpoints', id);
  }
}

function storedEndpoint(containerId: string, endpoint: EndpointRecord): EndpointRecord & { readonly containerId: string } {
  return { ...endpoint, containerId };
}
