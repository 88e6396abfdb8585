import { ChangeCounter } from '../common/change-counter.js';
import { ConflictError, NotFoundError, quotePrefix } from '../common/errors.js';
import type { ContainerRecord } from './model.js';

/** The containers the engine knows, found by name, id or unambiguous id prefix. */
export class ContainerTable {
  private readonly byId = new Map<string, ContainerRecord>();
  /** Counts every change, so views derived from the table (DNS names) know when to rebuild. */
  readonly changes = new ChangeCounter();

  set(record: ContainerRecord): void {
    this.byId.set(record.id, record);
    this.changes.bump();
  }

  remove(id: string): void {
    this.byId.delete(id);
    this.changes.bump();
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  byIdExact(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  find(ref: string): ContainerRecord | undefined {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const all = this.all();
    const exact = all.find((c) => c.name === name) ?? this.byId.get(ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const matches = all.filter((c) => c.id.startsWith(ref));
    if (matches.length > 1) {
      throw new ConflictError(`container id prefix "${quotePrefix(ref)}" is ambiguous: it matches ${matches.map((c) => c.name).join(', ')}`);
    }
    return matches[0];
  }

  get(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (!found) throw new NotFoundError(`no such container: ${quotePrefix(ref)}`, 'list containers with: berth ps -a');
    return found;
  }

  nameTaken(name: string): ContainerRecord | undefined {
    return this.all().find((c) => c.name === name);
  }
}
