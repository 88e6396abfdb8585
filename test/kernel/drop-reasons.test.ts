import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropsOfProbe, parseDrops } from '../../src/kernel/drop-reasons.js';

/** Lines as the kernel's trace prints them (Linux 6.18: with rx_sk). */
const TRACE = [
  '# tracer: nop',
  ' bp-1a2b3c4dp-812 [001] b..1.  1.000001: kfree_skb: skbaddr=000000001 rx_sk=0000000000000000 protocol=2048 location=__udp4_lib_rcv+0x4bc/0xd00 reason: NO_SOCKET',
  ' bp-1a2b3c4dp-812 [001] b..1.  1.000002: kfree_skb: skbaddr=000000002 rx_sk=0000000000000000 protocol=2048 location=tcp_v4_rcv+0x8c/0x1420 reason: NO_SOCKET',
  ' bp-1a2b3c4dp-812 [001] b..1.  1.000003: kfree_skb: skbaddr=000000003 rx_sk=0000000000000000 protocol=2048 location=ip_error+0x94/0x220 reason: NOT_SPECIFIED',
  ' bp-1a2b3c4dp-812 [001] b..1.  1.000004: kfree_skb: skbaddr=000000004 rx_sk=0000000000000000 protocol=2048 location=icmp_rcv+0x1c2/0x4a0 reason: NOT_SPECIFIED',
].join('\n');

test('parseDrops reads each kfree_skb line: where and why', () => {
  assert.deepEqual(parseDrops(TRACE), [
    { location: '__udp4_lib_rcv+0x4bc/0xd00', reason: 'NO_SOCKET' },
    { location: 'tcp_v4_rcv+0x8c/0x1420', reason: 'NO_SOCKET' },
    { location: 'ip_error+0x94/0x220', reason: 'NOT_SPECIFIED' },
    { location: 'icmp_rcv+0x1c2/0x4a0', reason: 'NOT_SPECIFIED' },
  ]);
});

test("a probe keeps the drops in its own transport's code and those on the way, not another transport's", () => {
  const drops = parseDrops(TRACE);
  const where = (proto: 'tcp' | 'udp' | 'icmp') => dropsOfProbe(drops, proto).map((d) => d.location.split('+')[0]);
  assert.deepEqual(where('tcp'), ['tcp_v4_rcv', 'ip_error']);
  assert.deepEqual(where('udp'), ['__udp4_lib_rcv', 'ip_error']);
  assert.deepEqual(where('icmp'), ['ip_error', 'icmp_rcv']);
});
