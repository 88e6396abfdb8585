import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ConflictError } from '../common/errors.js';
import { revisionConflictMessage, type Collection, type PutOptions, type Store, type StoredValue } from './store.js';

/**
 * The embedded store: one JSON file per object under `<data-root>/store/<collection>/`,
 * holding `{ "revision": n, "value": ... }`. Writes go to a temporary file first and are
 * renamed into place, so a crash leaves either the old or the new version, never half of
 * one. One daemon writes the store, so revisions are checked against what it read last.
 * Files written before revisions existed hold the bare value: they read as revision 1.
 *
 * File calls are synchronous: a small file written and renamed takes ~0.08 ms that way (into
 * the page cache; nothing here asks for fsync), a read ~0.02 ms, where each asynchronous
 * call takes ~0.3 ms of round trips through the thread pool (a network create makes three
 * writes and, for a new id, a read that finds nothing).
 */
export class LocalStore implements Store {
  /** The revision of every value this store read or wrote, so a write needs no read first (the daemon is the only writer). */
  private readonly revisions = new Map<string, number>();
  /** Collections whose directory this store has made. */
  private readonly made = new Set<Collection>();

  constructor(private readonly root: string) {}

  private dir(collection: Collection): string {
    return join(this.root, collection);
  }

  list(collection: Collection, idPrefix = ''): Promise<StoredValue[]> {
    return settle(() => {
      let names: string[];
      try {
        names = readdirSync(this.dir(collection)).filter((n) => n.endsWith('.json') && n.startsWith(idPrefix));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      return names.map((name) => this.read(collection, name.slice(0, -'.json'.length))).filter((v) => v !== undefined);
    });
  }

  get(collection: Collection, id: string): Promise<StoredValue | undefined> {
    return settle(() => this.read(collection, id));
  }

  put(collection: Collection, id: string, value: unknown, opts: PutOptions = {}): Promise<number> {
    return settle(() => this.write(collection, id, value, opts));
  }

  private read(collection: Collection, id: string): StoredValue | undefined {
    const path = join(this.dir(collection), `${id}.json`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      const stored = isEnvelope(parsed) ? { id, value: parsed.value, revision: parsed.revision } : { id, value: parsed, revision: 1 };
      this.revisions.set(`${collection}/${id}`, stored.revision);
      return stored;
    } catch (err) {
      throw new BerthError('internal', `store file ${path} is unreadable: ${(err as Error).message}`, 'move it away and restart the daemon; reconcile removes what it described', { cause: err });
    }
  }

  private write(collection: Collection, id: string, value: unknown, opts: PutOptions): number {
    const current = this.revisions.get(`${collection}/${id}`) ?? this.read(collection, id)?.revision ?? 0;
    if (opts.expectedRevision !== undefined && opts.expectedRevision !== current) {
      throw new ConflictError(revisionConflictMessage(collection, id, opts.expectedRevision, current));
    }
    const dir = this.dir(collection);
    const tmp = join(dir, `.${id}.tmp`);
    const revision = current + 1;
    const text = JSON.stringify({ revision, value }, null, 2) + '\n';
    try {
      if (!this.made.has(collection)) mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, text, { mode: 0o600 });
    } catch (err) {
      // The directory went (someone removed it under the daemon): made again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dir, { recursive: true });
      writeFileSync(tmp, text, { mode: 0o600 });
    }
    this.made.add(collection);
    renameSync(tmp, join(dir, `${id}.json`));
    this.revisions.set(`${collection}/${id}`, revision);
    return revision;
  }

  create(collection: Collection, id: string, value: unknown): Promise<number> {
    return this.put(collection, id, value, { expectedRevision: 0 });
  }

  delete(collection: Collection, id: string): Promise<void> {
    return settle(() => {
      rmSync(join(this.dir(collection), `${id}.json`), { force: true });
      this.revisions.set(`${collection}/${id}`, 0);
    });
  }
}

/** The store's promise for work done synchronously: a failure rejects it rather than throwing at the caller. */
function settle<T>(work: () => T): Promise<T> {
  return new Promise((resolve) => resolve(work()));
}

function isEnvelope(v: unknown): v is { revision: number; value: unknown } {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && typeof (v as { revision?: unknown }).revision === 'number' && 'value' in v;
}
