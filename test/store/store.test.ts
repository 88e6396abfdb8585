import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConflictError } from '../../src/common/errors.js';
import { LocalStore } from '../../src/store/local.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/store.js';

/** One behaviour for every store: what part 7's etcd store will have to pass too. */
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
      assert.equal(await store.get('networks', 'n1'), undefined);
      assert.equal(await store.create('networks', 'n1', { name: 'a' }), 1);
      await assert.rejects(store.create('networks', 'n1', { name: 'b' }), (e: unknown) => e instanceof ConflictError && /networks\/n1 exists already \(revision 1\)/.test(e.message));
      assert.equal(await store.put('networks', 'n1', { name: 'c' }), 2, 'an unconditional write bumps the revision');
      await assert.rejects(store.put('networks', 'n1', { name: 'd' }, { expectedRevision: 1 }), (e: unknown) => e instanceof ConflictError && /expected revision 1, found 2/.test(e.message));
      assert.equal(await store.put('networks', 'n1', { name: 'e' }, { expectedRevision: 2 }), 3);
      assert.deepEqual(await store.get('networks', 'n1'), { id: 'n1', value: { name: 'e' }, revision: 3 });
      assert.deepEqual(await store.list('networks'), [{ id: 'n1', value: { name: 'e' }, revision: 3 }]);
      assert.deepEqual(await store.list('containers'), []);
      await store.delete('networks', 'n1');
      await store.delete('networks', 'n1');
      assert.equal(await store.get('networks', 'n1'), undefined, 'deleting twice succeeds');
      assert.equal(await store.create('networks', 'n1', { name: 'again' }), 1, 'after a delete the id is absent again');
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
