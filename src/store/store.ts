/**
 * Persistence behind one interface, so the embedded local store and (for overlay
 * networks, later) etcd are interchangeable. Values are plain JSON; the engine validates
 * what it reads back, since a store file is data entering the program.
 */
export type Collection = 'networks' | 'containers';

export interface Store {
  list(collection: Collection): Promise<unknown[]>;
  put(collection: Collection, id: string, value: unknown): Promise<void>;
  /** Deleting what is not there succeeds. */
  delete(collection: Collection, id: string): Promise<void>;
}
