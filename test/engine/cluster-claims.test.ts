import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BerthError, ConflictError } from '../../src/common/errors.js';
import { claim, giveBack, reserveVni, STALE_CLAIM_MS } from '../../src/engine/cluster-claims.js';
import { MemoryStore } from '../../src/store/memory.js';
import { EchoingStore } from '../store/echoing.js';

/**
 * Claims of names and VXLAN ids for networks of the cluster, on the memory store (the same
 * Store contract as etcd's), with etcd's echo played by EchoingStore (test/store/echoing.ts).
 */

const TAKEN = 'network with name web already exists in the cluster';
/** Network `network` being made by host A (or the host named). */
const by = (network: string, host = '198.51.100.1') => ({ network, host });

test('a claim applied although its call failed is this network\'s on the next try, and a retry that met its own write wins at once', async () => {
  const store = new EchoingStore();
  store.echo = { collection: 'network-names', as: 'unavailable' };
  await assert.rejects(claim(store, 'network-names', 'web', by('net-a'), TAKEN), (e: unknown) => e instanceof BerthError && e.code === 'unavailable');
  await claim(store, 'network-names', 'web', by('net-a'), TAKEN);
  assert.equal(((await store.get('network-names', 'web'))?.value as { network: string }).network, 'net-a');

  store.echo = { collection: 'network-names', as: 'conflict' };
  await claim(store, 'network-names', 'api', by('net-b'), TAKEN);
  assert.equal(((await store.get('network-names', 'api'))?.value as { network: string }).network, 'net-b');
});

test('a name another network holds is refused, and stays that network\'s', async () => {
  const store = new MemoryStore();
  await claim(store, 'network-names', 'web', by('net-a'), TAKEN);
  await assert.rejects(claim(store, 'network-names', 'web', by('net-b', '198.51.100.2'), TAKEN), (e: unknown) => e instanceof ConflictError && e.message === TAKEN, 'from another host, while net-a may be being made');
  await store.create('networks', 'net-a', { name: 'web' });
  await assert.rejects(claim(store, 'network-names', 'web', by('net-b'), TAKEN), (e: unknown) => e instanceof ConflictError && e.message === TAKEN, 'from its own host, once net-a exists');
  assert.equal(((await store.get('network-names', 'web'))?.value as { network: string }).network, 'net-a');
});

test('a claim whose network never came to be is taken over: by its own host at once, by another once it is stale, never while its network exists', async () => {
  const store = new MemoryStore();
  const t0 = Date.parse('2026-12-06T10:00:00Z');
  const hostB = '198.51.100.2';
  await claim(store, 'network-names', 'web', by('net-gone'), TAKEN, t0);
  await assert.rejects(claim(store, 'network-names', 'web', by('net-b', hostB), TAKEN, t0 + STALE_CLAIM_MS - 1000), ConflictError, 'young, from another host: its network may be being made');
  await claim(store, 'network-names', 'web', by('net-b', hostB), TAKEN, t0 + STALE_CLAIM_MS);
  const held = await store.get('network-names', 'web');
  assert.equal((held?.value as { network: string }).network, 'net-b');
  assert.equal(held?.revision, 2, 'taken over by a compare-and-swap on the stale claim');
  await store.create('networks', 'net-b', { name: 'web' });
  await assert.rejects(claim(store, 'network-names', 'web', by('net-c'), TAKEN, t0 + 10 * STALE_CLAIM_MS), ConflictError, 'old, but its network exists');

  // Host A's creates run one at a time: a claim of its own for another network, with no record, is a leftover.
  await claim(store, 'network-names', 'api', by('net-d'), TAKEN, t0);
  await claim(store, 'network-names', 'api', by('net-e'), TAKEN, t0 + 1000);
  assert.equal(((await store.get('network-names', 'api'))?.value as { network: string }).network, 'net-e');
  await store.put('network-names', 'old', { network: 'net-f' });
  await assert.rejects(claim(store, 'network-names', 'old', by('net-g'), TAKEN, t0 + 10 * STALE_CLAIM_MS), ConflictError, 'a claim of a release before `host` and `since` is never taken over');
});

test('giving back removes only a claim that still names the network', async () => {
  const store = new MemoryStore();
  await claim(store, 'network-names', 'web', by('net-a'), TAKEN);
  await giveBack(store, 'network-names', 'web', 'net-b');
  assert.notEqual(await store.get('network-names', 'web'), undefined, 'another network\'s claim is left');
  await giveBack(store, 'network-names', 'web', 'net-a');
  assert.equal(await store.get('network-names', 'web'), undefined);
  await giveBack(store, 'network-names', 'web', 'net-a');
  await store.put('network-names', 'old', { network: 'net-a' });
  await giveBack(store, 'network-names', 'old', 'net-a');
  assert.equal(await store.get('network-names', 'old'), undefined, 'a claim of a release before `since` is given back too');
});

test('a VXLAN id reserved although its call failed is the one the next try returns, and the last one tried is the one to give back', async () => {
  const store = new EchoingStore();
  const tried: number[] = [];
  const claiming = (vni: number) => void tried.push(vni);
  await reserveVni(store, by('net-a'), claiming);
  store.echo = { collection: 'vnis', as: 'conflict' };
  assert.equal(await reserveVni(store, by('net-b'), claiming), 4097, 'its own write met by a retry: the same id, not the next');
  store.echo = { collection: 'vnis', as: 'unavailable' };
  await assert.rejects(reserveVni(store, by('net-c'), claiming), (e: unknown) => e instanceof BerthError && e.code === 'unavailable');
  assert.deepEqual(tried, [4096, 4097, 4098]);
  assert.deepEqual((await store.list('vnis')).map((v) => v.id), ['4096', '4097', '4098'], 'the failed call\'s write was applied');
  await giveBack(store, 'vnis', String(tried.at(-1)), 'net-c');
  assert.deepEqual((await store.list('vnis')).map((v) => v.id), ['4096', '4097']);
});
