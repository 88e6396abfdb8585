import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/store.js';
import { checkStoreBehaviour } from './behaviour.js';

/** One behaviour for every store (test/store/behaviour.ts; the etcd store passes it too). */
const STORES: [string, () => Promise<{ store: Store; done: () => Promise<void> }>][] = [
  ['memory', () => Promise.resolve({ store: new MemoryStore(), done: () => Promise.resolve() })],
  [
    'local',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-store-'));
      return { store: new LocalStore(dir), done: () => rm(dir, { recursive: true, force: true }) };
    },
  ],
];

for (const [name, make] of STORES) {
  test(`${name} store: revisions, create-if-absent and compare-and-swap`, async () => {
    const { store, done } = await make();
    try {
      await checkStoreBehaviour(store);
    } finally {
      await done();
    }
  });
}

test('local store: a file written before revisions existed (the bare record) reads as revision 1', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-store-'));
  try {
    await mkdir(join(dir, 'containers'), { recursive: true });
    await writeFile(join(dir, 'containers', 'c1.json'), JSON.stringify({ id: 'c1', name: 'old' }));
    const store = new LocalStore(dir);
    assert.deepEqual(await store.get('containers', 'c1'), { id: 'c1', value: { id: 'c1', name: 'old' }, revision: 1 });
    assert.equal(await store.put('containers', 'c1', { id: 'c1', name: 'new' }, { expectedRevision: 1 }), 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
