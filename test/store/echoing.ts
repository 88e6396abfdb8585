import { BerthError, ConflictError } from '../../src/common/errors.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Collection } from '../../src/store/store.js';

/**
 * A store that plays what etcd does to a write whose deadline passes while it is on its way
 * to a quorum: the write is applied, and its caller sees a failure: the cluster store
 * unavailable, or (when the client library tried the call again by itself) a conflict with
 * its own write.
 */
export class EchoingStore extends MemoryStore {
  /** The next create of this collection is applied, then reported as this failure. */
  echo: { collection: Collection; as: 'unavailable' | 'conflict' } | undefined;

  override async create(collection: Collection, id: string, value: unknown): Promise<number> {
    const revision = await super.create(collection, id, value);
    if (this.echo?.collection !== collection) return revision;
    const { as } = this.echo;
    this.echo = undefined;
    throw as === 'unavailable' ? new BerthError('unavailable', 'the cluster store (etcd at test) did not answer a put within 5 s') : new ConflictError(`${collection}/${id} exists already (revision ${revision})`);
  }
}
