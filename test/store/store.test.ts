import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

/** A fresh directory for a local store, removed after `body`. */
async function inStoreDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-store-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('local store: what one process wrote, the next reads (snapshot and journal), revisions going on', () =>
  inStoreDir(async (dir) => {
    const first = new LocalStore(dir);
    await first.create('networks', 'n1', { name: 'a' });
    await first.put('networks', 'n1', { name: 'b' });
    await first.create('containers', 'c1', { name: 'c' });
    await first.create('containers', 'c2', { name: 'd' });
    await first.delete('containers', 'c2');
    const next = new LocalStore(dir);
    assert.deepEqual(await next.list('networks'), [{ id: 'n1', value: { name: 'b' }, revision: 2 }]);
    assert.deepEqual(await next.list('containers'), [{ id: 'c1', value: { name: 'c' }, revision: 1 }]);
    await assert.rejects(next.put('networks', 'n1', { name: 'x' }, { expectedRevision: 1 }), /expected revision 1, found 2/);
    assert.equal(await next.put('networks', 'n1', { name: 'e' }, { expectedRevision: 2 }), 3);
    assert.deepEqual(await new LocalStore(dir).get('networks', 'n1'), { id: 'n1', value: { name: 'e' }, revision: 3 });
    assert.deepEqual((await readdir(dir)).sort(), ['journal', 'snapshot.json']);
  }));

test('local store: a journal line cut short by a crash is not a write; the next writer drops it', () =>
  inStoreDir(async (dir) => {
    const first = new LocalStore(dir);
    await first.create('networks', 'n1', { name: 'a' });
    await appendFile(join(dir, 'journal'), '{"s":9,"c":"networks","id":"n2","r":1,"v":{"na');
    const next = new LocalStore(dir);
    assert.deepEqual((await next.list('networks')).map((v) => v.id), ['n1']);
    await next.create('networks', 'n3', { name: 'c' });
    assert.doesNotMatch(await readFile(join(dir, 'journal'), 'utf8'), /"n2"/);
    assert.deepEqual((await new LocalStore(dir).list('networks')).map((v) => v.id).sort(), ['n1', 'n3']);
  }));

test('local store: a line in the middle of the journal that is not JSON is an error naming the file and line', () =>
  inStoreDir(async (dir) => {
    await new LocalStore(dir).create('networks', 'n1', { name: 'a' });
    await appendFile(join(dir, 'journal'), 'garbage\n{"s":9,"c":"networks","id":"n2","r":1,"v":{}}\n');
    await assert.rejects(new LocalStore(dir).list('networks'), /store at .*journal line 2 is unreadable/);
  }));

test('local store: journal lines a snapshot already holds (a crash between its rename and the truncation) are not replayed', () =>
  inStoreDir(async (dir) => {
    const first = new LocalStore(dir);
    await first.create('networks', 'n1', { name: 'old' });
    const before = await readFile(join(dir, 'journal'), 'utf8');
    await first.put('networks', 'n1', { name: 'new' });
    // A second process's first write makes a snapshot holding n1 at revision 2 and empties the journal...
    await new LocalStore(dir).create('networks', 'n2', { name: 'other' });
    // ...and here the truncation never happened: the journal still holds the first line.
    await writeFile(join(dir, 'journal'), before);
    assert.deepEqual(await new LocalStore(dir).get('networks', 'n1'), { id: 'n1', value: { name: 'new' }, revision: 2 });
  }));

test('local store: files an earlier release wrote (one per value; the bare record reads as revision 1) move into the first snapshot', () =>
  inStoreDir(async (dir) => {
    await mkdir(join(dir, 'containers'), { recursive: true });
    await writeFile(join(dir, 'containers', 'c1.json'), JSON.stringify({ id: 'c1', name: 'old' }));
    await mkdir(join(dir, 'networks'), { recursive: true });
    await writeFile(join(dir, 'networks', 'n1.json'), JSON.stringify({ revision: 4, value: { name: 'net' } }));
    const store = new LocalStore(dir);
    assert.deepEqual(await store.get('containers', 'c1'), { id: 'c1', value: { id: 'c1', name: 'old' }, revision: 1 });
    assert.equal(await store.put('containers', 'c1', { id: 'c1', name: 'new' }, { expectedRevision: 1 }), 2);
    assert.deepEqual((await readdir(dir)).sort(), ['journal', 'snapshot.json'], 'the old files are gone');
    const next = new LocalStore(dir);
    assert.deepEqual(await next.get('containers', 'c1'), { id: 'c1', value: { id: 'c1', name: 'new' }, revision: 2 });
    assert.deepEqual(await next.get('networks', 'n1'), { id: 'n1', value: { name: 'net' }, revision: 4 });
  }));

test('local store: a read changes nothing on disk', () =>
  inStoreDir(async (dir) => {
    await mkdir(join(dir, 'containers'), { recursive: true });
    await writeFile(join(dir, 'containers', 'c1.json'), JSON.stringify({ revision: 1, value: {} }));
    const store = new LocalStore(dir);
    await store.list('containers');
    await store.get('networks', 'n1');
    assert.deepEqual(await readdir(dir), ['containers']);
  }));

test('local store: a value read is a copy; changing it changes nothing stored', () =>
  inStoreDir(async (dir) => {
    const store = new LocalStore(dir);
    await store.create('networks', 'n1', { name: 'a' });
    ((await store.get('networks', 'n1'))!.value as { name: string }).name = 'changed';
    assert.deepEqual((await store.get('networks', 'n1'))!.value, { name: 'a' });
  }));
