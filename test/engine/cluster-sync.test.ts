import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foldNetworkEvents } from '../../src/engine/cluster-sync.js';
import type { AddressedNetwork } from '../../src/engine/model.js';
import { newNetwork } from '../../src/engine/network-create.js';
import type { WatchEvent } from '../../src/store/etcd-watch.js';
import { builtinNetworks, createContext, networkRequest } from './fixtures.js';

/** What a host makes and removes for a batch of the cluster's network events (ClusterSync's fold, no kernel). */
const record = (name: string, subnet: string): AddressedNetwork => newNetwork(networkRequest({ name, ipam: [{ subnet, auxAddresses: {} }] }), createContext(builtinNetworks()));
const a = record('a', '10.40.1.0/24');
const b = record('b', '10.40.2.0/24');
const c = record('c', '10.40.3.0/24');
const put = (n: AddressedNetwork): WatchEvent => ({ type: 'put', id: n.id, value: JSON.parse(JSON.stringify(n)) as unknown });
const del = (n: AddressedNetwork): WatchEvent => ({ type: 'delete', id: n.id });
const names = (fold: { arrived: AddressedNetwork[]; departed: AddressedNetwork[] }) => ({ arrived: fold.arrived.map((n) => n.name), departed: fold.departed.map((n) => n.name) });
const known = (...networks: AddressedNetwork[]) => new Map(networks.map((n) => [n.id, n]));

test('a network made and removed within one batch (a watch resumed after a broken stream) is neither made nor left behind', () => {
  assert.deepEqual(names(foldNetworkEvents(known(), [put(a), del(a)])), { arrived: [], departed: [] });
  assert.deepEqual(names(foldNetworkEvents(known(a), [put(b), del(b), del(a)])), { arrived: [], departed: ['a'] });
});

test('puts and deletes in separate order: made when new, removed when known', () => {
  assert.deepEqual(names(foldNetworkEvents(known(a), [put(a), put(b)])), { arrived: ['b'], departed: [] }, 'a known network put again is not made again');
  assert.deepEqual(names(foldNetworkEvents(known(a, b), [del(b)])), { arrived: [], departed: ['b'] });
  assert.deepEqual(names(foldNetworkEvents(known(), [del(c)])), { arrived: [], departed: [] }, 'an unknown network removed: nothing to do');
});

test('a reset replaces what came before it in the batch and what the host knew', () => {
  const reset = (...networks: AddressedNetwork[]): WatchEvent => ({ type: 'reset', values: new Map(networks.map((n) => [n.id, JSON.parse(JSON.stringify(n)) as unknown])) });
  assert.deepEqual(names(foldNetworkEvents(known(a, b), [reset(b, c)])), { arrived: ['c'], departed: ['a'] });
  assert.deepEqual(names(foldNetworkEvents(known(a), [put(c), reset(a)])), { arrived: [], departed: [] }, 'c was put, then the reset said it is not there');
  assert.deepEqual(names(foldNetworkEvents(known(a), [reset(a), put(b), del(a)])), { arrived: ['b'], departed: ['a'] });
});
