import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressOfPtrName, buildNameIndex, resolveAddress, resolveName, type DnsEndpoint } from '../../src/dns/names.js';

const DB_ID = 'd0d0d0d0d0d0'.padEnd(64, 'a');
const WEB_ID = 'e1e1e1e1e1e1'.padEnd(64, 'b');
const BOTH_ID = 'b0b0b0b0b0b0'.padEnd(64, 'c');

const endpoints: DnsEndpoint[] = [
  { containerId: DB_ID, containerName: 'db', networkId: 'app', networkName: 'app', address: '172.18.0.2', aliases: ['database'] },
  { containerId: WEB_ID, containerName: 'web', networkId: 'other', networkName: 'other', address: '172.19.0.2', aliases: [] },
  { containerId: BOTH_ID, containerName: 'both', networkId: 'app', networkName: 'app', address: '172.18.0.3', aliases: ['shared'] },
  { containerId: BOTH_ID, containerName: 'both', networkId: 'other', networkName: 'other', address: '172.19.0.3', aliases: ['shared'] },
];
const index = buildNameIndex(endpoints);

test('names, aliases, short ids, longer id prefixes and name.network resolve on a shared network', () => {
  for (const name of ['db', 'DB', 'db.', 'database', 'd0d0d0d0d0d0', DB_ID.slice(0, 30), DB_ID, 'db.app']) {
    assert.deepEqual(resolveName(index, ['app'], name), { kind: 'local', addresses: ['172.18.0.2'] }, name);
  }
});

test('a name berth knows only on another network is NXDOMAIN, never forwarded; an unknown one is forwarded', () => {
  assert.deepEqual(resolveName(index, ['other'], 'db'), { kind: 'nxdomain' });
  // name.network of a network the querier is not on: berth's own name all the same.
  assert.deepEqual(resolveName(index, ['other'], 'db.app'), { kind: 'nxdomain' });
  assert.deepEqual(resolveName(index, ['app'], 'example.org'), { kind: 'forward' });
  // An id prefix shorter than 12 digits is no name.
  assert.deepEqual(resolveName(index, ['app'], 'd0d0d0'), { kind: 'forward' });
});

test('a container on two networks is found by each network by its address there; a multi-homed querier sees both', () => {
  assert.deepEqual(resolveName(index, ['app'], 'both'), { kind: 'local', addresses: ['172.18.0.3'] });
  assert.deepEqual(resolveName(index, ['other'], 'shared'), { kind: 'local', addresses: ['172.19.0.3'] });
  assert.deepEqual(resolveName(index, ['app', 'other'], 'both'), { kind: 'local', addresses: ['172.18.0.3', '172.19.0.3'] });
  assert.deepEqual(resolveName(index, ['app', 'other'], 'web'), { kind: 'local', addresses: ['172.19.0.2'] });
});

test('reverse lookups answer name.network on shared networks only', () => {
  assert.equal(addressOfPtrName('2.0.18.172.in-addr.arpa'), '172.18.0.2');
  assert.equal(addressOfPtrName('example.org'), undefined);
  assert.deepEqual(resolveAddress(index, ['app'], '172.18.0.2'), { kind: 'local', names: ['db.app'] });
  assert.deepEqual(resolveAddress(index, ['other'], '172.18.0.2'), { kind: 'nxdomain' });
  assert.deepEqual(resolveAddress(index, ['app'], '192.0.2.1'), { kind: 'forward' });
});
