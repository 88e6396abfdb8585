import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../common/errors.js';
import type { Collection, Store } from './store.js';

/**
 * The embedded store: one JSON file per object under `<data-root>/store/<collection>/`.
 * Writes go to a temporary file first and are renamed into place, so a crash leaves
 * either the old or the new version, never half of one.
 */
export class LocalStore implements Store {
  constructor(private readonly root: string) {}

  private dir(collection: Collection): string {
    return join(this.root, collection);
  }

  async list(collection: Collection): Promise<unknown[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir(collection))).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const values: unknown[] = [];
    for (const name of names) {
      const path = join(this.dir(collection), name);
      try {
        values.push(JSON.parse(await readFile(path, 'utf8')));
      } catch (err) {
        throw new BerthError('internal', `store file ${path} is unreadable: ${(err as Error).message}`, 'move it away and restart the daemon; reconcile removes what it described', { cause: err });
      }
    }
    return values;
  }

  async put(collection: Collection, id: string, value: unknown): Promise<void> {
    const dir = this.dir(collection);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${id}.tmp`);
    await writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(dir, `${id}.json`));
  }

  async delete(collection: Collection, id: string): Promise<void> {
    await rm(join(this.dir(collection), `${id}.json`), { force: true });
  }
}
