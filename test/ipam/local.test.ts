import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, NotFoundError } from '../../src/common/errors.js';
import { LocalIpam } from '../../src/ipam/local.js';

test('local IPAM: lowest free address, static addresses, checks that take nothing, release and reuse', async () => {
  const ipam = new LocalIpam();
  await ipam.addPool('n', [{ subnet: '10.1.0.0/29', gateway: '10.1.0.1', auxAddresses: { r: '10.1.0.3' } }]);
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
  await ipam.addPool('l3', [{ subnet: '203.0.113.0/24', auxAddresses: {} }]);
  assert.equal(await ipam.allocate('l3'), '203.0.113.1');
});

test('local IPAM with several subnets: dynamic addresses from the first with room, static ones in whichever subnet holds them', async () => {
  const ipam = new LocalIpam();
  await ipam.addPool('two', [
    { subnet: '10.1.0.0/30', gateway: '10.1.0.1', auxAddresses: {} },
    { subnet: '10.2.0.0/29', gateway: '10.2.0.1', auxAddresses: {} },
  ]);
  assert.equal(await ipam.allocate('two'), '10.1.0.2', 'the first subnet first');
  assert.equal(await ipam.allocate('two'), '10.2.0.2', 'the first is full: the second');
  assert.equal(await ipam.allocate('two', '10.2.0.6'), '10.2.0.6');
  await assert.rejects(ipam.allocate('two', '10.2.0.1'), /it is the gateway/);
  await assert.rejects(ipam.checkAllocatable('two', '10.9.0.1'), /^InvalidArgumentError: address 10\.9\.0\.1 is in none of the network's subnets \(10\.1\.0\.0\/30, 10\.2\.0\.0\/29\)$/);
  await ipam.release('two', '10.1.0.2');
  assert.equal(await ipam.allocate('two'), '10.1.0.2', 'released in the first: reused first');
  for (const ip of ['10.2.0.3', '10.2.0.4', '10.2.0.5']) assert.equal(await ipam.allocate('two'), ip);
  await assert.rejects(ipam.allocate('two'), /no free IPv4 address left in 10\.1\.0\.0\/30/);
  await assert.rejects(ipam.addPool('none', []), /needs at least one subnet/);
});
