import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, cidrsOverlap, formatCidr, formatIpv4, parseCidr, parseIpv4 } from '../../src/common/ipv4.js';
import { InvalidArgumentError } from '../../src/common/errors.js';

test('IPv4 addresses round-trip through their integer form', () => {
  assert.equal(parseIpv4('172.17.0.2'), 0xac110002);
  assert.equal(formatIpv4(0xac110002), '172.17.0.2');
  assert.equal(formatIpv4(parseIpv4('255.255.255.255')), '255.255.255.255');
});

test('bad addresses are rejected with the offending text', () => {
  for (const bad of ['172.17.0', '256.1.1.1', '1.2.3.04x', '', 'a.b.c.d', '01.2.3.4']) {
    assert.throws(() => parseIpv4(bad), (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(`"${bad}"`));
  }
});

test('CIDRs: network, containment, overlap, strict host bits', () => {
  const c = parseCidr('172.17.0.1/16');
  assert.equal(formatCidr(c), '172.17.0.0/16');
  assert.equal(cidrContains(c, parseIpv4('172.17.255.254')), true);
  assert.equal(cidrContains(c, parseIpv4('172.18.0.1')), false);
  assert.equal(cidrsOverlap(parseCidr('172.17.0.0/16'), parseCidr('172.17.5.0/24')), true);
  assert.equal(cidrsOverlap(parseCidr('172.17.0.0/16'), parseCidr('172.18.0.0/16')), false);
  assert.throws(() => parseCidr('172.17.0.1/16', { strict: true }), /host bits are set/);
  assert.throws(() => parseCidr('172.17.0.0/33'), /invalid CIDR/);
  assert.throws(() => parseCidr('172.17.0.0'), /invalid CIDR/);
});
