import { ConflictError } from '../common/errors.js';

/**
 * Persistence behind one interface, so the embedded local store and (for networks that
 * span hosts, part 7) etcd are interchangeable. Values are plain JSON; the engine validates
 * what it reads back, since a stored value is data entering the program.
 *
 * Every value has a revision, bumped by each write. A write may demand the revision it
 * read (compare-and-swap; 0 = absent), which is how two daemons sharing etcd keep from
 * overwriting each other; `create` is the common case: only if absent.
 */
export type Collection =
  | 'networks'
  // A local network being created (in the exec root's store): written before its kernel
  // objects, deleted once its network record is; one left behind by a crash names the
  // objects reconcile removes.
  | 'network-intents'
  | 'containers'
  | 'endpoints'
  | 'hosts'
  | 'addresses'
  | 'network-names'
  | 'vnis'
  | 'peers'
  // Another runtime's (dockerd's) endpoints, network ids and IPAM pools, berth being its plugin.
  | 'external-endpoints'
  | 'external-networks'
  | 'external-pools';

export interface StoredValue {
  readonly id: string;
  readonly value: unknown;
  readonly revision: number;
}

export interface WriteOptions {
  /** Write (or delete) only if the stored revision is this one (0: only if absent); else a ConflictError. */
  readonly expectedRevision?: number;
}

export interface Store {
  /** Every value of the collection, or those whose id starts with `idPrefix`. */
  list(collection: Collection, idPrefix?: string): Promise<StoredValue[]>;
  get(collection: Collection, id: string): Promise<StoredValue | undefined>;
  /** Returns the value's new revision. */
  put(collection: Collection, id: string, value: unknown, opts?: WriteOptions): Promise<number>;
  /** Writes only if `id` is absent (a ConflictError otherwise); returns its revision. */
  create(collection: Collection, id: string, value: unknown): Promise<number>;
  /**
   * Deleting what is not there succeeds. With `expectedRevision`, only the value at that
   * revision is deleted (a claim given back only while it is still the one taken).
   */
  delete(collection: Collection, id: string, opts?: WriteOptions): Promise<void>;
}

/** For a store that holds its values itself (memory, local): the promise of work done synchronously, a failure rejecting it rather than throwing at the caller. */
export function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

/**
 * For a store that holds its values itself (memory, local): the conflict a conditional
 * write or delete meets when the value is at another revision than the one it names.
 */
export function checkRevision(collection: Collection, id: string, opts: WriteOptions, current: number): void {
  if (opts.expectedRevision !== undefined && opts.expectedRevision !== current) {
    throw new ConflictError(revisionConflictMessage(collection, id, opts.expectedRevision, current));
  }
}

/** The conflict both stores report when a conditional write finds another revision. */
export function revisionConflictMessage(collection: Collection, id: string, expected: number, found: number): string {
  return expected === 0
    ? `${collection}/${id} exists already (revision ${found})`
    : `${collection}/${id} changed underneath: expected revision ${expected}, found ${found === 0 ? 'none' : found}`;
}
