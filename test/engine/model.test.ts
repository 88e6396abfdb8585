import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MODE_NETWORK, parseContainerRecord, parseNetworkRecord } from '../../src/engine/model.js';

const COMMON = { id: 'n1', name: 'lan', created: '2026-11-01T00:00:00.000Z', internal: false };
const SUBNET = { subnet: '10.1.0.0/24', gateway: '10.1.0.1', auxAddresses: { r: '10.1.0.9' } };

test('network records of every version read back as one shape: a list of subnets', () => {
  const current = { ...COMMON, driver: 'macvlan', driverData: { parent: 'uplink0' }, ipam: { subnets: [SUBNET, { subnet: '10.2.0.0/24', auxAddresses: {} }], userSubnet: true } };
  assert.deepEqual(parseNetworkRecord(current).ipam, current.ipam);
  // Part 6 kept one subnet's fields in ipam itself.
  const part6 = { ...COMMON, driver: 'macvlan', driverData: { parent: 'uplink0' }, ipam: { ...SUBNET, userSubnet: true } };
  assert.deepEqual(parseNetworkRecord(part6).ipam, { subnets: [SUBNET], userSubnet: true });
  // Before the driver contract, a bridge network's fields sat at the top.
  const part4 = { ...COMMON, driver: 'bridge', bridge: 'br-1', subnet: '10.1.0.0/24', gateway: '10.1.0.1', auxAddresses: { r: '10.1.0.9' } };
  const parsed = parseNetworkRecord(part4);
  assert.deepEqual([parsed.ipam, parsed.driverData], [{ subnets: [SUBNET], userSubnet: false }, { bridge: 'br-1' }]);
  // host and none hold no addresses.
  assert.equal(parseNetworkRecord({ ...COMMON, driver: 'host', driverData: {} }).ipam, undefined);
});

test('a malformed network record is refused, naming what it is', () => {
  for (const ipam of [{ subnets: [] }, { subnets: [{ gateway: '10.1.0.1', auxAddresses: {} }] }, 'x']) {
    assert.throws(() => parseNetworkRecord({ ...COMMON, driver: 'macvlan', driverData: {}, ipam }), /store holds a malformed network/);
  }
});

test('a container record without networks (stored before user-defined networks) gets its mode\'s; one disconnected from all keeps none', () => {
  const record = { id: 'c1', name: 'web', created: '', hostname: 'web', networkMode: 'bridge', netns: 'berth-c1', command: ['true'], env: [], endpoints: [], state: { status: 'created', startTime: '', startedAt: '', finishedAt: '' } };
  assert.deepEqual(parseContainerRecord(record, new Map()).networks, [{ networkId: MODE_NETWORK, aliases: [] }]);
  assert.deepEqual(parseContainerRecord({ ...record, networks: [] }, new Map()).networks, []);
});
