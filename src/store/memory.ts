import { checkRevision, settle, type Collection, type WriteOptions, type Store, type StoredValue } from './store.js';

/** A store that lives as long as the process: for planning without a daemon (--dry-run) and for tests. */
export class MemoryStore implements Store {
  private readonly data = new Map<string, StoredValue>();

  list(collection: Collection, idPrefix = ''): Promise<StoredValue[]> {
    const prefix = `${collection}/${idPrefix}`;
    return Promise.resolve([...this.data.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v));
  }

  get(collection: Collection, id: string): Promise<StoredValue | undefined> {
    return Promise.resolve(this.data.get(`${collection}/${id}`));
  }

  put(collection: Collection, id: string, value: unknown, opts: WriteOptions = {}): Promise<number> {
    return settle(() => {
      const current = this.data.get(`${collection}/${id}`)?.revision ?? 0;
      checkRevision(collection, id, opts, current);
      // A deep copy, as a real store keeps: later changes to `value` must not change what is stored.
      this.data.set(`${collection}/${id}`, { id, value: JSON.parse(JSON.stringify(value)) as unknown, revision: current + 1 });
      return current + 1;
    });
  }

  create(collection: Collection, id: string, value: unknown): Promise<number> {
    return this.put(collection, id, value, { expectedRevision: 0 });
  }

  delete(collection: Collection, id: string, opts: WriteOptions = {}): Promise<void> {
    return settle(() => {
      checkRevision(collection, id, opts, this.data.get(`${collection}/${id}`)?.revision ?? 0);
      this.data.delete(`${collection}/${id}`);
    });
  }
}
