import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePortBindings, parsePortSpec } from '../../src/common/portspec.js';
import { InvalidArgumentError } from '../../src/common/errors.js';

test('every Docker form of -p', () => {
  assert.deepEqual(parsePortSpec('1180:5000'), [{ protocol: 'tcp', containerPort: 5000, hostIp: '', hostPorts: { first: 1180, last: 1180 } }]);
  assert.deepEqual(parsePortSpec('80'), [{ protocol: 'tcp', containerPort: 80, hostIp: '' }]);
  assert.deepEqual(parsePortSpec('127.0.0.1:8080:80'), [{ protocol: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPorts: { first: 8080, last: 8080 } }]);
  assert.deepEqual(parsePortSpec('127.0.0.1::80'), [{ protocol: 'tcp', containerPort: 80, hostIp: '127.0.0.1' }]);
  assert.deepEqual(parsePortSpec('0.0.0.0:5353:53/udp'), [{ protocol: 'udp', containerPort: 53, hostIp: '', hostPorts: { first: 5353, last: 5353 } }]);
  assert.deepEqual(parsePortSpec('9000-9002:7000-7002').map((m) => `${m.hostPorts!.first}->${m.containerPort}`), ['9000->7000', '9001->7001', '9002->7002']);
  assert.deepEqual(parsePortSpec('7000-7001').map((m) => [m.containerPort, m.hostPorts]), [[7000, undefined], [7001, undefined]]);
  assert.deepEqual(parsePortSpec('8000-8010:80/sctp'), [{ protocol: 'sctp', containerPort: 80, hostIp: '', hostPorts: { first: 8000, last: 8010 } }]);
  assert.equal(parsePortSpec('80/TCP')[0]!.protocol, 'tcp');
});

test('bad specifications are rejected with what was wrong', () => {
  const cases: [string, RegExp][] = [
    ['0', /container port 0 is out of range \(1-65535\)/],
    ['65536:80', /host port 65536 is out of range/],
    ['1-3:5-6', /host range 1-3 has 3 ports but container range 5-6 has 2/],
    ['80/icmp', /unknown protocol "icmp"/],
    ['300.1.1.1:80:80', /host address "300\.1\.1\.1" is not an IPv4 address/],
    ['[::1]:80:80', /IPv6 host address/],
    ['a:b', /host port "a" is not a port or a port range/],
    ['1:2:3:4', /too many ":"/],
    ['80:', /no container port/],
    ['90-80', /range 90-80 ends before it starts/],
    ['80/tcp/udp', /more than one "\/"/],
  ];
  for (const [spec, why] of cases) {
    assert.throws(() => parsePortSpec(spec), (e: unknown) => e instanceof InvalidArgumentError && e.message.startsWith(`invalid port specification "${spec}": `) && why.test(e.message), spec);
  }
});

test('Docker\'s PortBindings and -P over ExposedPorts become the same mappings', () => {
  const got = parsePortBindings(
    { '5000/tcp': [{ HostIp: '', HostPort: '1180' }], '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }] },
    { '5000/tcp': {}, '53/udp': {}, '7000/tcp': {} },
    true,
  );
  assert.deepEqual(got, [
    { protocol: 'tcp', containerPort: 5000, hostIp: '', hostPorts: { first: 1180, last: 1180 } },
    { protocol: 'udp', containerPort: 53, hostIp: '127.0.0.1' },
    { protocol: 'tcp', containerPort: 7000, hostIp: '' },
  ]);
  assert.deepEqual(parsePortBindings(undefined, { '80/tcp': {} }, false), []);
  assert.throws(() => parsePortBindings({ '0/tcp': [{ HostIp: '', HostPort: '' }] }, undefined, false), /container port 0 is out of range/);
});

test('a HostPort given as a number is that port, not a random one; other types are refused', () => {
  assert.deepEqual(parsePortBindings({ '80/tcp': [{ HostIp: '', HostPort: 8080 }] }, undefined, false), [{ protocol: 'tcp', containerPort: 80, hostIp: '', hostPorts: { first: 8080, last: 8080 } }]);
  assert.throws(() => parsePortBindings({ '80/tcp': [{ HostPort: true }] }, undefined, false), /HostPort must be a string such as "8080"/);
});
