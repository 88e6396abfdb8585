import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeBatch } from '../../src/kernel/netlink/nf-tables-socket.js';
import { chainChangeMessages } from '../../src/kernel/netlink/nft-chains.js';
import { renderNftCommands, type NftChainChange } from '../../src/kernel/nft-commands.js';

const change: NftChainChange = {
  family: 'ip',
  table: 'berth',
  commands: [
    { kind: 'flush-chain', chain: 'forward' },
    { kind: 'add-rule', chain: 'forward', rule: { match: [], verdict: { kind: 'vmap', on: 'iifname', map: 'from_bridge' } } },
    { kind: 'add-chain', chain: 'from_br0' },
    {
      kind: 'add-rule',
      chain: 'from_br0',
      rule: { match: [{ kind: 'ifname', on: 'iifname', op: 'eq', name: 'br0' }, { kind: 'ct-state', any: ['established', 'related'] }], markOr: 0x10000000, verdict: { kind: 'accept' } },
    },
    { kind: 'add-rule', chain: 'from_br0', rule: { match: [{ kind: 'ip-saddr', cidr: '10.0.0.7/32' }, { kind: 'ifname', on: 'oifname', op: 'neq', name: 'br0' }], verdict: { kind: 'masquerade' } } },
    { kind: 'add-element', set: 'bridges', ifname: 'br0' },
    { kind: 'add-element', set: 'from_bridge', ifname: 'br0', jump: 'from_br0' },
    { kind: 'delete-element', set: 'from_bridge', ifname: 'br1' },
    { kind: 'delete-chain', chain: 'from_br1' },
  ],
};

test('chain commands render as the nft script that makes them, rules as nft lists them back', () => {
  assert.deepEqual(renderNftCommands(change), [
    'flush chain ip berth forward',
    'add rule ip berth forward iifname vmap @from_bridge',
    'add chain ip berth from_br0',
    'add rule ip berth from_br0 iifname "br0" ct state established,related meta mark set meta mark | 0x10000000 accept',
    'add rule ip berth from_br0 ip saddr 10.0.0.7 oifname != "br0" masquerade',
    'add element ip berth bridges { "br0" }',
    'add element ip berth from_bridge { "br0" : jump from_br0 }',
    'delete element ip berth from_bridge { "br1" }',
    'delete chain ip berth from_br1',
  ]);
});

test('chain commands as nf_tables messages: one each, in order, family ip; adds create (rules append), deletions do not', () => {
  const { bytes } = encodeBatch(chainChangeMessages(change), 1);
  const kinds: string[] = [];
  for (let at = 0; at < bytes.length; at += bytes.readUInt32LE(at)) {
    const type = bytes.readUInt16LE(at + 4);
    if (type >> 8 !== 10) continue; // the batch's begin and end
    kinds.push(`${type & 0xff}/0x${bytes.readUInt16LE(at + 6).toString(16)}/${bytes.readUInt8(at + 16)}`);
  }
  // NFT_MSG_DELRULE 8, NEWRULE 6, NEWCHAIN 3, NEWSETELEM 12, DELSETELEM 14, DELCHAIN 5; REQUEST|ACK = 0x5, CREATE 0x400, APPEND 0x800.
  assert.deepEqual(kinds, ['8/0x5/2', '6/0xc05/2', '3/0x405/2', '6/0xc05/2', '6/0xc05/2', '12/0x405/2', '12/0x405/2', '14/0x5/2', '5/0x5/2']);
  assert.throws(() => chainChangeMessages({ family: 'ip', table: 'berth', commands: [{ kind: 'add-rule', chain: 'c', rule: { match: [{ kind: 'ip-saddr', cidr: '0.0.0.0/0' }], verdict: { kind: 'drop' } } }] }), /a \/0 source matches every packet/);
});
