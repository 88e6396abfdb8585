import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, ConflictError } from '../common/errors.js';
import { revisionConflictMessage, type Collection, type PutOptions, type Store, type StoredValue } from './store.js';

/**
 * The embedded store: one JSON file per object under `<data-root>/store/<collection>/`,
 * holding `{ "revision": n, "value": ... }`. Writes go to a temporary file first and are
 * renamed into place, so a crash leaves either the old or the new version, never half of
 * one. One daemon writes the store, so revisions are checked against what it read last.
 * Files written before revisions existed hold the bare value: they read as revision 1.
 */
export class LocalStore implements Store {
  /** The revision of every value this store read or wrote, so a write needs no read first (the daemon is the only writer). */
  private readonly revisions = new Map<string, number>();

  constructor(private readonly root: string) {}

  private dir(collection: Collection): string {
    return join(this.root, collection);
  }

  async list(collection: Collection, idPrefix = ''): Promise<StoredValue[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir(collection))).filter((n) => n.endsWith('.json') && n.startsWith(idPrefix));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const values: StoredValue[] = [];
    for (const name of names) {
      const stored = await this.get(collection, name.slice(0, -'.json'.length));
      if (stored) values.push(stored);
    }
    return values;
  }

  async get(collection: Collection, id: string): Promise<StoredValue | undefined> {
    const path = join(this.dir(collection), `${id}.json`);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
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

  async put(collection: Collection, id: string, value: unknown, opts: PutOptions = {}): Promise<number> {
    const cached = this.revisions.get(`${collection}/${id}`);
    const current = cached ?? (await this.get(collection, id))?.revision ?? 0;
    if (opts.expectedRevision !== undefined && opts.expectedRevision !== current) {
      throw new ConflictError(revisionConflictMessage(collection, id, opts.expectedRevision, current));
    }
    const dir = this.dir(collection);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${id}.tmp`);
    const revision = current + 1;
    await writeFile(tmp, JSON.stringify({ revision, value }, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(dir, `${id}.json`));
    this.revisions.set(`${collection}/${id}`, revision);
    return revision;
  }

  create(collection: Collection, id: string, value: unknown): Promise<number> {
    return this.put(collection, id, value, { expectedRevision: 0 });
  }

  async delete(collection: Collection, id: string): Promise<void> {
    await rm(join(this.dir(collection), `${id}.json`), { force: true });
    this.revisions.set(`${collection}/${id}`, 0);
  }
}

function isEnvelope(v: unknown): v is { revision: number; value: unknown } {
  return typeof v === 'object' && v !== null && Object.keys(v).length === 2 && typeof (v as { revision?: unknown }).revision === 'number' && 'value' in v;
}
