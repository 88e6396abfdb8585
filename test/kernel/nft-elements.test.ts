import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/kernel/netlink/nf-tables-socket.js';
import { elementMessages, encodeKey } from '../../src/kernel/netlink/nft-elements.js';

test('an element key: each field padded to 4 bytes, names zero-filled to 16, addresses in network order', () => {
  assert.equal(encodeKey([{ type: 'ifname', value: 'veth1' }]).toString('hex'), '7665746831' + '00'.repeat(11));
  assert.equal(
    encodeKey([{ type: 'ifname', value: 'eth0' }, { type: 'ether_addr', value: '02:42:ac:11:00:0a' }, { type: 'ipv4_addr', value: '172.17.0.10' }]).toString('hex'),
    '65746830' + '00'.repeat(12) + '0242ac11000a0000' + 'ac11000a',
  );
  assert.throws(() => encodeKey([{ type: 'ifname', value: 'a-name-too-long-x' }]), /longer than 15 bytes/);
  assert.throws(() => encodeKey([{ type: 'ether_addr', value: '02:42:ac' }]), /not a MAC address/);
});

test('a batch: begin, one add per set with elements (removed ones too), one delete per set with removals, end; ACKs asked of the middle ones', () => {
  const { bytes, acked } = encodeBatch(
    elementMessages({ family: 'bridge', table: 'berth', sets: [{ set: 'a', add: [[{ type: 'ifname', value: 'x' }]], remove: [] }, { set: 'b', add: [], remove: [[{ type: 'ifname', value: 'y' }]] }, { set: 'c', add: [], remove: [] }] }),
    100,
  );
  assert.deepEqual(acked, [101, 102, 103]);
  const messages: { type: number; flags: number; seq: number; family: number }[] = [];
  for (let at = 0; at < bytes.length; at += bytes.readUInt32LE(at)) {
    messages.push({ type: bytes.readUInt16LE(at + 4), flags: bytes.readUInt16LE(at + 6), seq: bytes.readUInt32LE(at + 8), family: bytes.readUInt8(at + 16) });
  }
  assert.deepEqual(messages, [
    { type: 0x10, flags: 0x1, seq: 100, family: 0 },
    { type: (10 << 8) | 12, flags: 0x405, seq: 101, family: 7 },
    { type: (10 << 8) | 12, flags: 0x405, seq: 102, family: 7 },
    { type: (10 << 8) | 14, flags: 0x5, seq: 103, family: 7 },
    { type: 0x11, flags: 0x1, seq: 104, family: 0 },
  ]);
});
