import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCidr, formatIpv4, parseCidr, parseIpv4 } from '../../src/common/ipv4.js';
import { AddressPool } from '../../src/ipam/pool.js';
import { ConflictError, ExhaustedError, InvalidArgumentError } from '../../src/common/errors.js';
import { candidatesOf, defaultBridgeCandidates, DOCKER_DEFAULT_POOLS, firstFreeSubnet, parseAddressPoolSpec } from '../../src/ipam/subnets.js';

const pool = (cidr: string, gw: string) => new AddressPool(parseCidr(cidr), parseIpv4(gw));

test('allocation starts after the gateway and goes up', () => {
  const p = pool('172.17.0.0/16', '172.17.0.1');
  assert.deepEqual([p.allocate(), p.allocate(), p.allocate()].map(formatIpv4), ['172.17.0.2', '172.17.0.3', '172.17.0.4']);
  assert.equal(p.allocatedCount, 3);
});

test('a released address is handed out again first (lowest free)', () => {
  const p = pool('10.0.0.0/24', '10.0.0.1');
  const a = p.allocate();
  const b = p.allocate();
  p.allocate();
  p.release(a);
  p.release(b);
  assert.equal(formatIpv4(p.allocate()), '10.0.0.2');
  assert.equal(formatIpv4(p.allocate()), '10.0.0.3');
  assert.equal(formatIpv4(p.allocate()), '10.0.0.5');
});

test('the network, broadcast and gateway addresses are never handed out; exhaustion is a clear error', () => {
  const p = pool('192.0.2.0/29', '192.0.2.6'); // usable .1-.6, gateway .6
  const got = [1, 2, 3, 4, 5].map(() => formatIpv4(p.allocate()));
  assert.deepEqual(got, ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  assert.throws(() => p.allocate(), (e: unknown) => e instanceof ExhaustedError && /no free IPv4 address left in 192\.0\.2\.0\/29/.test(e.message));
  p.release(parseIpv4('192.0.2.6')); // releasing the gateway does not free it
  assert.throws(() => p.allocate(), ExhaustedError);
});

test('reserve claims specific addresses and refuses used or foreign ones', () => {
  const p = pool('172.17.0.0/16', '172.17.0.1');
  p.reserve(parseIpv4('172.17.0.2'));
  assert.equal(formatIpv4(p.allocate()), '172.17.0.3');
  assert.throws(() => p.reserve(parseIpv4('172.17.0.2')), ConflictError);
  assert.throws(() => p.reserve(parseIpv4('172.17.0.1')), ConflictError);
  assert.throws(() => p.reserve(parseIpv4('172.18.0.2')), InvalidArgumentError);
  assert.throws(() => p.reserve(parseIpv4('172.17.255.255')), InvalidArgumentError);
});

test('a gateway outside the subnet is rejected', () => {
  assert.throws(() => pool('172.17.0.0/16', '172.18.0.1'), /gateway 172\.18\.0\.1 is outside subnet 172\.17\.0\.0\/16/);
});

test('the default bridge subnet skips what the host routes', () => {
  const candidates = defaultBridgeCandidates();
  assert.equal(formatIpv4(firstFreeSubnet(candidates, []).network), '172.17.0.0');
  assert.equal(formatIpv4(firstFreeSubnet(candidates, [parseCidr('172.17.3.0/24')]).network), '172.18.0.0');
  assert.equal(formatIpv4(firstFreeSubnet(candidates, [parseCidr('172.16.0.0/12')]).network), '192.168.0.0');
  assert.throws(() => firstFreeSubnet(candidates, [parseCidr('0.0.0.0/0')]), ExhaustedError);
});

test('address pools: Docker\'s defaults, and dockerd-style base=,size= specs', () => {
  const all = candidatesOf(DOCKER_DEFAULT_POOLS);
  assert.equal(all.length, 15 + 16);
  assert.deepEqual([all[0], all[14], all[15], all[30]].map((c) => formatCidr(c!)), ['172.17.0.0/16', '172.31.0.0/16', '192.168.0.0/20', '192.168.240.0/20']);
  const pool = parseAddressPoolSpec('base=10.10.0.0/16,size=24');
  const subnets = candidatesOf([pool]);
  assert.equal(subnets.length, 256);
  assert.equal(formatCidr(firstFreeSubnet(subnets, [parseCidr('10.10.0.0/23')])), '10.10.2.0/24');
  for (const [bad, why] of [
    ['base=10.10.0.0/16', /needs exactly base= and size=/],
    ['base=10.10.0.0/16,size=8', /size 8 must be between the base's \/16 and \/30/],
    ['base=10.10.0.1/16,size=24', /host bits are set/],
    ['size=24,base=10.10.0.0/16,extra=1', /needs exactly base= and size=/],
  ] as const) {
    assert.throws(() => parseAddressPoolSpec(bad), why);
  }
});

test('an ip-range limits dynamic allocation; static addresses may use the rest of the subnet', () => {
  const p = new AddressPool(parseCidr('10.10.0.0/24'), parseIpv4('10.10.0.254'), { range: parseCidr('10.10.0.128/30') });
  assert.deepEqual([p.allocate(), p.allocate(), p.allocate(), p.allocate()].map(formatIpv4), ['10.10.0.128', '10.10.0.129', '10.10.0.130', '10.10.0.131']);
  assert.throws(() => p.allocate(), (e: unknown) => e instanceof ExhaustedError && /10\.10\.0\.128-10\.10\.0\.131/.test(e.message));
  p.reserve(parseIpv4('10.10.0.9')); // outside the range, inside the subnet: Docker accepts it
  p.release(parseIpv4('10.10.0.129'));
  assert.equal(formatIpv4(p.allocate()), '10.10.0.129');
  // A static address released below the range does not bring dynamic allocation out of it.
  p.release(parseIpv4('10.10.0.9'));
  assert.throws(() => p.allocate(), ExhaustedError);
});

test('auxiliary addresses and the gateway are never handed out and name themselves when asked for', () => {
  const p = new AddressPool(parseCidr('192.0.2.0/29'), parseIpv4('192.0.2.1'), { aux: { router: parseIpv4('192.0.2.2') } });
  assert.equal(formatIpv4(p.allocate()), '192.0.2.3');
  assert.throws(() => p.reserve(parseIpv4('192.0.2.2')), /reserved in 192\.0\.2\.0\/29: it is auxiliary address "router"/);
  assert.throws(() => p.reserve(parseIpv4('192.0.2.1')), /it is the gateway/);
  p.release(parseIpv4('192.0.2.2')); // an aux address stays reserved
  assert.equal(p.isUsed(parseIpv4('192.0.2.2')), true);
  assert.equal(p.allocatedCount, 1);
});
