import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTraceRequest } from '../../src/engine/trace/spec.js';

test('trace ends: containers, host, outside:ADDR; a port makes tcp, none icmp', () => {
  assert.deepEqual(parseTraceRequest('web', 'db:5432'), { src: { kind: 'container', ref: 'web' }, dst: { kind: 'container', ref: 'db' }, proto: 'tcp', port: 5432 });
  assert.deepEqual(parseTraceRequest('web', 'db'), { src: { kind: 'container', ref: 'web' }, dst: { kind: 'container', ref: 'db' }, proto: 'icmp' });
  assert.deepEqual(parseTraceRequest('outside:198.51.100.254', 'host:8080'), { src: { kind: 'outside', address: '198.51.100.254' }, dst: { kind: 'host' }, proto: 'tcp', port: 8080 });
  assert.deepEqual(parseTraceRequest('host', 'outside:198.51.100.254:53/udp'), { src: { kind: 'host' }, dst: { kind: 'outside', address: '198.51.100.254' }, proto: 'udp', port: 53 });
  assert.deepEqual(parseTraceRequest('a', 'outside:198.51.100.254'), { src: { kind: 'container', ref: 'a' }, dst: { kind: 'outside', address: '198.51.100.254' }, proto: 'icmp' });
});

test('bad trace ends are refused with what is accepted', () => {
  const refuses = (src: string, dst: string, pattern: RegExp) => assert.throws(() => parseTraceRequest(src, dst), (e: Error) => pattern.test(e.message));
  refuses('web', 'db:80/sctp', /invalid protocol "sctp"/);
  refuses('web', 'db:0', /invalid port 0/);
  refuses('web', 'db:70000', /invalid port 70000/);
  refuses('web', 'db:80/icmp', /icmp has no ports/);
  refuses('web', 'db/udp', /udp needs a port/);
  refuses('web:80', 'db', /a source takes no port/);
  refuses('outside:nope', 'db', /outside:ADDR takes an IPv4 address/);
  refuses('web', ':80', /empty trace destination/);
});
