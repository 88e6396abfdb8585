import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, ConflictError } from '../../src/common/errors.js';
import { EtcdStore } from '../../src/store/etcd.js';
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
});
