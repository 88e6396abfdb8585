import { ChangeCounter } from '../common/change-counter.js';
import { ConflictError, NotFoundError, quotePrefix } from '../common/errors.js';
import type { ContainerRecord } from './model.js';

/**
 * The containers the engine knows, found by name, id or unambiguous id prefix. Names and
 * host-side veth names are indexed: a start asks which veth names are taken, and every
 * request finds its container by name, each once per operation at 1,000 containers.
 */
export class ContainerTable {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, ContainerRecord>();
  private readonly hostIfnames = new Set<string>();
  /** Counts every change, so views derived from the table (DNS names) know when to rebuild. */
  readonly changes = new ChangeCounter();

  set(record: ContainerRecord): void {
    this.unindex(record.id);
    this.byId.set(record.id, record);
    this.byName.set(record.name, record);
    for (const name of hostIfnamesOf(record)) this.hostIfnames.add(name);
    this.changes.bump();
  }

  remove(id: string): void {
    this.unindex(id);
    this.byId.delete(id);
    this.changes.bump();
  }

  private unindex(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    if (this.byName.get(old.name) === old) this.byName.delete(old.name);
    for (const name of hostIfnamesOf(old)) this.hostIfnames.delete(name);
  }

  /** Host-side veth names held by the containers' endpoints (live: it follows the table). */
  takenHostIfnames(): ReadonlySet<string> {
    return this.hostIfnames;
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  byIdExact(id: string): ContainerRecord | undefined {
    return this.byId.get(id);
  }

  find(ref: string): ContainerRecord | undefined {
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const exact = this.byName.get(name) ?? this.byId.get(ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const matches = this.all().filter((c) => c.id.startsWith(ref));
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
    return this.byName.get(name);
  }
}

function hostIfnamesOf(record: ContainerRecord): string[] {
  return record.endpoints.flatMap((e) => (e.hostIfname === undefined ? [] : [e.hostIfname]));
}
