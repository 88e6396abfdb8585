import type { Collection, Store } from './store.js';

/** A store in memory: for planning without a daemon and for tests of the engine's logic. */
export class MemoryStore implements Store {
  private readonly data = new Map<Collection, Map<string, unknown>>();

  list(collection: Collection): Promise<unknown[]> {
    return Promise.resolve([...(this.data.get(collection)?.values() ?? [])].map((v) => structuredClone(v)));
  }

  put(collection: Collection, id: string, value: unknown): Promise<void> {
    let map = this.data.get(collection);
    if (!map) this.data.set(collection, (map = new Map<string, unknown>()));
    map.set(id, structuredClone(value));
    return Promise.resolve();
  }

  delete(collection: Collection, id: string): Promise<void> {
    this.data.get(collection)?.delete(id);
    return Promise.resolve();
  }
}
