import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerRecords } from '../../src/engine/container-records.js';
import { initialState, type ContainerRecord, type EndpointRecord } from '../../src/engine/model.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Collection, WriteOptions } from '../../src/store/store.js';
import { EMPTY_RESOLV_CONF } from '../../src/dns/resolvconf.js';

const ID = 'c0ffee'.padEnd(64, '1');

function endpoint(n: number, over: Partial<EndpointRecord> = {}): EndpointRecord {
  return { id: `ep${n}`.padEnd(64, '0'), networkId: `net${n}`, ifname: `eth${n}`, hostIfname: `veth000000${n}`, address: `10.${n}.0.2`, prefixLength: 24, mac: `02:42:0a:0${n}:00:02`, gateway: `10.${n}.0.1`, gatewayEndpoint: n === 0, ...over };
}

function container(endpoints: EndpointRecord[]): ContainerRecord {
  return {
    id: ID, name: 'web', created: '2026-12-01T00:00:00.000Z', hostname: 'web', command: ['sleep', '1'], env: [], labels: {}, autoRemove: false,
    networkMode: 'bridge', netns: 'berth-c0ffee111111', networks: endpoints.map((e) => ({ networkId: e.networkId, aliases: [] })),
    endpoints, dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: true, portMappings: [], ports: [], state: initialState(),
  };
}

/** A store whose writes to one collection fail from some moment on: a daemon killed mid-save, as the store sees it. */
class FailingStore extends MemoryStore {
  failing: Collection | undefined;
  override put(collection: Collection, id: string, value: unknown, opts?: WriteOptions): Promise<number> {
    if (collection === this.failing) return Promise.reject(new Error('killed'));
    return super.put(collection, id, value, opts);
  }
}

test('each endpoint is a record of its own, naming its container; the container lists their ids in order', async () => {
  const store = new MemoryStore();
  const records = new ContainerRecords(store);
  const record = container([endpoint(0), endpoint(1)]);
  await records.save(record);
  const stored = (await store.get('containers', ID))!.value as Record<string, unknown>;
  assert.deepEqual(stored.endpointIds, [endpoint(0).id, endpoint(1).id]);
  assert.equal(stored.endpoints, undefined, 'not inline');
  assert.deepEqual((await store.get('endpoints', endpoint(1).id))!.value, { ...endpoint(1), containerId: ID });
  assert.deepEqual(await new ContainerRecords(store).load(), { containers: [record], strayEndpoints: [] });
});

test('a save rewrites only endpoints that changed, and deletes those the container dropped', async () => {
  const store = new MemoryStore();
  const records = new ContainerRecords(store);
  await records.save(container([endpoint(0), endpoint(1)]));
  await records.save(container([endpoint(0), endpoint(1, { gatewayEndpoint: true })]));
  assert.equal((await store.get('endpoints', endpoint(0).id))!.revision, 1, 'unchanged: not rewritten');
  assert.equal((await store.get('endpoints', endpoint(1).id))!.revision, 2);
  await records.save(container([endpoint(1)]));
  assert.equal(await store.get('endpoints', endpoint(0).id), undefined);
  await records.remove(container([endpoint(1)]));
  assert.deepEqual([await store.list('containers'), await store.list('endpoints')], [[], []]);
});

test('a save cut short before the container is written leaves the old container and only stray endpoint records', async () => {
  const store = new FailingStore();
  await new ContainerRecords(store).save(container([endpoint(0)]));
  const records = new ContainerRecords(store);
  await records.load();
  store.failing = 'containers';
  await assert.rejects(records.save(container([endpoint(0), endpoint(1)])), /killed/);
  const loaded = await new ContainerRecords(store).load();
  assert.deepEqual(loaded, { containers: [container([endpoint(0)])], strayEndpoints: [endpoint(1).id] });
  await records.deleteStrays(loaded.strayEndpoints);
  assert.equal(await store.get('endpoints', endpoint(1).id), undefined);
});

test('containers stored with their endpoints inline (before part 6) read the same and move them to records of their own when saved', async () => {
  const store = new MemoryStore();
  await store.put('containers', ID, container([endpoint(0)]));
  const records = new ContainerRecords(store);
  const { containers } = await records.load();
  assert.deepEqual(containers, [container([endpoint(0)])]);
  await records.save(containers[0]!);
  assert.deepEqual((await store.get('endpoints', endpoint(0).id))!.value, { ...endpoint(0), containerId: ID });
});

test('a container listing an endpoint that has no record (removed by hand) is reported as malformed', async () => {
  const store = new MemoryStore();
  await new ContainerRecords(store).save(container([endpoint(0)]));
  await store.delete('endpoints', endpoint(0).id);
  await assert.rejects(new ContainerRecords(store).load(), /store holds a malformed container \(its endpoint ep0\S* has no record\)/);
});
