import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, ConflictError } from '../../src/common/errors.js';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/store/etcd.js';
import type { WatchEvent } from '../../src/store/etcd-watch.js';
import { EtcdCluster } from '../world/etcd.js';
import { sandboxSkip } from '../world/world.js';
import { checkStoreBehaviour } from './behaviour.js';

/**
 * The etcd store against a real etcd cluster of three members (Debian's etcd-server),
 * started by the test on loopback inside the sandbox: the Store behaviour, creation races
 * from many writers, and what happens when the quorum is lost and comes back.
 */
describe('the etcd store (part 7\'s cluster store)', { skip: sandboxSkip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdStore[] = [];
  const open = (timeoutMs = 3000) => {
    const s = new EtcdStore({ endpoints: cluster.endpoints, prefix: `/berth-test-${cluster.id}/v1/`, timeoutMs });
    stores.push(s);
    return s;
  };
  before(async () => {
    cluster = await EtcdCluster.start(3);
  });
  after(async () => {
    for (const s of stores) s.close();
    await cluster.stop();
  });

  test('passes the behaviour every store has', async () => {
    await checkStoreBehaviour(open());
  });

  test('create-if-absent is one transaction: of 20 writers racing from 4 clients, exactly one wins', async () => {
    const clients = [open(), open(), open(), open()];
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => clients[i % 4]!.create('containers', 'race', { writer: i })));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || r.reason instanceof ConflictError));
    const stored = await clients[0]!.get('containers', 'race');
    assert.equal(stored?.revision, 1);
  });

  test('one member of three down changes nothing; quorum lost: calls fail in bounded time naming the store; back: it works again', async () => {
    const store = open(2000);
    await cluster.stopMember(2);
    assert.equal(await store.create('networks', 'q1', { ok: true }), 1, 'two of three members still make a quorum');
    await cluster.stopMember(1);
    const started = Date.now();
    await assert.rejects(store.put('networks', 'q1', { ok: false }), (e: unknown) => e instanceof BerthError && e.code === 'unavailable' && /the cluster store \(etcd at http:\/\/127\.0\.0\.1:\d+/.test(e.message));
    // Bounded: the call's deadline plus the client's own retries, well under 15 s.
    assert.ok(Date.now() - started < 15_000, `failed after ${Date.now() - started} ms`);
    cluster.startMember(1);
    cluster.startMember(2);
    // A write that timed out may still be applied once the quorum is back (etcd had it
    // proposed): the value is either the old or the new one, never anything else.
    let after: { value: unknown; revision: number } | undefined;
    let lastError: unknown;
    for (let i = 0; i < 100 && after === undefined; i++) {
      after = await store.get('networks', 'q1').catch((err: unknown) => {
        lastError = err;
        return undefined;
      });
      if (after === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(after, `the store did not come back: ${String(lastError)}`);
    assert.ok([JSON.stringify({ ok: true }), JSON.stringify({ ok: false })].includes(JSON.stringify(after.value)), JSON.stringify(after));
    assert.equal(await store.put('networks', 'q1', { ok: 'again' }, { expectedRevision: after.revision }), after.revision + 1, 'compare-and-swap works again');
  });

  test('watch: the whole collection first, then each change; resuming from a compacted revision it reads everything again', async () => {
    const store = open();
    await store.put('hosts', 'w-a', { n: 1 });
    await store.put('hosts', 'w-b', { n: 1 });
    const seen = new Map<string, unknown>();
    const batches: string[][] = [];
    const resyncs: string[] = [];
    const record = (events: readonly WatchEvent[]) => {
      batches.push(events.map((e) => (e.type === 'reset' ? `reset ${[...e.values.keys()].join(',')}` : `${e.type} ${e.id}`)));
      for (const e of events) {
        if (e.type === 'reset') {
          seen.clear();
          for (const [id, value] of e.values) seen.set(id, value);
        } else if (e.type === 'put') seen.set(e.id, e.value);
        else seen.delete(e.id);
      }
    };
    const until = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(done(), `${what}: ${JSON.stringify(batches)}`);
    };
    const watch = await store.watch('hosts', record);
    assert.deepEqual(batches, [['reset w-a,w-b']], 'a full read first');
    await store.put('hosts', 'w-c', { n: 1 });
    await store.delete('hosts', 'w-a');
    await until('changes arrive', () => seen.has('w-c') && !seen.has('w-a'));
    await watch.stop();

    // A watcher resuming from a revision etcd compacted away: it reads the collection whole again.
    const from = watch.revision + 1;
    await store.put('hosts', 'w-b', { n: 2 });
    await store.delete('hosts', 'w-c');
    await store.put('hosts', 'w-d', { n: 1 });
    const raw = new Etcd3({ hosts: [...cluster.endpoints] });
    const head = await raw.get('x').exec();
    await raw.kv.compact({ revision: head.header.revision, physical: true });
    raw.close();
    batches.length = 0;
    const resumed = await store.watch('hosts', record, { fromRevision: from, onResync: (reason) => resyncs.push(reason) });
    await until('the resync arrives', () => seen.has('w-d'));
    assert.match(resyncs[0] ?? '', /compacted/, 'it says why it read everything again');
    assert.deepEqual(Object.fromEntries(seen), { 'w-b': { n: 2 }, 'w-d': { n: 1 } });
    await store.put('hosts', 'w-e', { n: 1 });
    await until('it follows again after the resync', () => seen.has('w-e'));
    await resumed.stop();
  });

  test('watch resumed from an earlier revision: what it missed comes in one batch, a value made and deleted meanwhile as both', async () => {
    // What a daemon's watch does when its stream to one member breaks and the client resumes
    // on another: ClusterSync must fold such a batch in order (test/engine/cluster-sync.test.ts).
    const store = open();
    const first = await store.watch('peers', () => undefined);
    const from = first.revision + 1;
    await first.stop();
    await store.create('peers', 'brief', { n: 1 });
    await store.delete('peers', 'brief');
    await store.create('peers', 'kept', { n: 1 });
    const batches: string[][] = [];
    const resumed = await store.watch('peers', (events) => void batches.push(events.map((e) => (e.type === 'reset' ? 'reset' : `${e.type} ${e.id}`))), { fromRevision: from });
    for (let i = 0; i < 100 && batches.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    await resumed.stop();
    assert.deepEqual(batches[0], ['put brief', 'delete brief', 'put kept'], JSON.stringify(batches));
  });
});
