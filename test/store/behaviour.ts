import assert from 'node:assert/strict';
import { ConflictError } from '../../src/common/errors.js';
import type { Store } from '../../src/store/store.js';

/** What every Store must do: revisions from 1, create-if-absent, compare-and-swap, idempotent delete, conditional delete. */
export async function checkStoreBehaviour(store: Store): Promise<void> {
  assert.equal(await store.get('networks', 'n1'), undefined);
  assert.equal(await store.create('networks', 'n1', { name: 'a' }), 1);
  await assert.rejects(store.create('networks', 'n1', { name: 'b' }), (e: unknown) => e instanceof ConflictError && /networks\/n1 exists already \(revision 1\)/.test(e.message));
  assert.equal(await store.put('networks', 'n1', { name: 'c' }), 2, 'an unconditional write bumps the revision');
  await assert.rejects(store.put('networks', 'n1', { name: 'd' }, { expectedRevision: 1 }), (e: unknown) => e instanceof ConflictError && /expected revision 1, found 2/.test(e.message));
  assert.equal(await store.put('networks', 'n1', { name: 'e' }, { expectedRevision: 2 }), 3);
  assert.deepEqual(await store.get('networks', 'n1'), { id: 'n1', value: { name: 'e' }, revision: 3 });
  assert.deepEqual(await store.list('networks'), [{ id: 'n1', value: { name: 'e' }, revision: 3 }]);
  assert.deepEqual(await store.list('containers'), []);
  await store.create('networks', 'n2', { name: 'f' });
  assert.deepEqual((await store.list('networks', 'n2')).map((s) => s.id), ['n2'], 'only ids with the prefix');
  assert.deepEqual(await store.list('networks', 'x'), []);
  await store.delete('networks', 'n2');
  await store.delete('networks', 'n1');
  await store.delete('networks', 'n1');
  assert.equal(await store.get('networks', 'n1'), undefined, 'deleting twice succeeds');
  assert.equal(await store.create('networks', 'n1', { name: 'again' }), 1, 'after a delete the id is absent again');
  await store.delete('networks', 'n1');

  // A conditional delete takes only the revision it names.
  await store.create('networks', 'n3', { name: 'g' });
  await store.put('networks', 'n3', { name: 'h' });
  await assert.rejects(store.delete('networks', 'n3', { expectedRevision: 1 }), (e: unknown) => e instanceof ConflictError && /networks\/n3 changed underneath: expected revision 1, found 2/.test(e.message));
  assert.equal((await store.get('networks', 'n3'))?.revision, 2, 'a refused delete leaves the value');
  await store.delete('networks', 'n3', { expectedRevision: 2 });
  assert.equal(await store.get('networks', 'n3'), undefined);
  await assert.rejects(store.delete('networks', 'n3', { expectedRevision: 2 }), (e: unknown) => e instanceof ConflictError && /expected revision 2, found none/.test(e.message));
}
