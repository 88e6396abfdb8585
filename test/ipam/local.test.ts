import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, NotFoundError } from '../../src/common/errors.js';
import { LocalIpam } from '../../src/ipam/local.js';

test('local IPAM: lowest free address, static addresses, checks that take nothing, release and reuse', async () => {
  const ipam = new LocalIpam();
  await ipam.addPool('n', { subnet: '10.1.0.0/29', gateway: '10.1.0.1', auxAddresses: { r: '10.1.0.3' } });
  assert.equal(await ipam.allocate('n'), '10.1.0.2');
  assert.equal(await ipam.allocate('n'), '10.1.0.4', 'the aux address is skipped');
  await ipam.checkAllocatable('n', '10.1.0.5');
  assert.equal(await ipam.allocate('n', '10.1.0.5'), '10.1.0.5', 'checking took nothing');
  await assert.rejects(ipam.allocate('n', '10.1.0.5'), ConflictError);
  await assert.rejects(ipam.allocate('n', '10.1.0.1'), /it is the gateway/);
  await ipam.release('n', '10.1.0.2');
  await ipam.release('n', '10.1.0.2');
  assert.equal(await ipam.allocate('n'), '10.1.0.2', 'a released address is reused first');
  await ipam.removePool('n');
  await assert.rejects(ipam.allocate('n'), NotFoundError);
});

test('local IPAM: a pool without a gateway (ipvlan l3) hands out the first address', async () => {
  const ipam = new LocalIpam();
  await ipam.addPool('l3', { subnet: '203.0.113.0/24', auxAddresses: {} });
  assert.equal(await ipam.allocate('l3'), '203.0.113.1');
});
