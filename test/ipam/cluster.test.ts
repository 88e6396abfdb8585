import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, ExhaustedError, MissingFeatureError } from '../../src/common/errors.js';
import { StoredAddressClaims } from '../../src/engine/address-claims.js';
import { ClusterIpam } from '../../src/ipam/cluster.js';
import { LocalIpam } from '../../src/ipam/local.js';
import { ScopedIpam } from '../../src/ipam/scoped.js';
import { MemoryStore } from '../../src/store/memory.js';
import { EchoingStore } from '../store/echoing.js';

const POOL = [{ subnet: '10.30.0.0/29', gateway: '10.30.0.1', auxAddresses: { r: '10.30.0.3' } }];

test('cluster IPAM: hosts sharing a store never get the same address; static addresses name their holder', async () => {
  const store = new MemoryStore();
  const [a, b] = ['203.0.113.10', '203.0.113.11'].map((host) => new ClusterIpam(new StoredAddressClaims(store), host));
  for (const ipam of [a!, b!]) await ipam.addPool('ov', POOL);
  assert.equal(await a!.allocate('ov'), '10.30.0.2');
  assert.equal(await b!.allocate('ov'), '10.30.0.4', 'the gateway, .2 (held by a) and the aux address are skipped');
  await assert.rejects(b!.allocate('ov', '10.30.0.2'), (e: unknown) => e instanceof ConflictError && /address 10\.30\.0\.2 is already in use on this network \(held by host 203\.0\.113\.10\)/.test(e.message));
  await assert.rejects(b!.checkAllocatable('ov', '10.30.0.2'), ConflictError);
  await assert.rejects(b!.allocate('ov', '10.30.0.1'), /it is the gateway/);
  assert.equal(await a!.allocate('ov', '10.30.0.2'), '10.30.0.2', 'its own address, restored at start');
  // Racing for the rest: .5 and .6 are left; three allocations, two win, none twice.
  const results = await Promise.allSettled([a!.allocate('ov'), b!.allocate('ov'), a!.allocate('ov')]);
  const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  assert.deepEqual(won.sort(), ['10.30.0.5', '10.30.0.6']);
  assert.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof ExhaustedError));
  await b!.release('ov', '10.30.0.2');
  assert.deepEqual((await store.list('addresses')).length, 4, 'b cannot give back what a holds');
  await a!.release('ov', '10.30.0.2');
  assert.equal(await b!.allocate('ov'), '10.30.0.2');
  await a!.removePool('ov');
  assert.equal((await store.list('addresses')).length, 4, 'one host dropping its pool leaves the cluster\'s claims');
  await new StoredAddressClaims(store).forget('ov');
  assert.deepEqual(await store.list('addresses'), [], 'removing the network from the cluster drops every claim');
});

test('cluster IPAM: an address claim applied although its call failed (the client tried it again and met it) is won, not left held and unused', async () => {
  const store = new EchoingStore();
  const ipam = new ClusterIpam(new StoredAddressClaims(store), '203.0.113.10');
  await ipam.addPool('ov', POOL);
  store.echo = { collection: 'addresses', as: 'conflict' };
  assert.equal(await ipam.allocate('ov'), '10.30.0.2');
  assert.deepEqual((await store.list('addresses')).map((c) => c.id), ['ov.10.30.0.2'], 'one claim, none for an address no container has');
});

test('scoped IPAM: local pools stay local; a global one needs a cluster', async () => {
  const local = new ScopedIpam(new LocalIpam(), undefined);
  await local.addPool('br', POOL);
  assert.equal(await local.allocate('br'), '10.30.0.2');
  await assert.rejects(local.addPool('ov', POOL, 'global'), (e: unknown) => e instanceof MissingFeatureError && /needs a cluster store/.test(e.message));
  const store = new MemoryStore();
  const scoped = new ScopedIpam(new LocalIpam(), new ClusterIpam(new StoredAddressClaims(store), 'h'));
  await scoped.addPool('br', POOL);
  await scoped.addPool('ov', POOL, 'global');
  await scoped.allocate('br');
  await scoped.allocate('ov');
  assert.deepEqual((await store.list('addresses')).map((s) => s.id), ['ov.10.30.0.2'], 'only the global network\'s address is in the cluster store');
});
