import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNftables, nftTransition } from '../../src/firewall/nftables.js';
import { assertGolden } from '../golden.js';

test('ruleset for the default bridge (golden)', () => {
  assertGolden('nft-default-bridge.nft', compileNftables({ networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false }] }));
});

test('ruleset for two bridges, one internal (golden)', () => {
  assertGolden(
    'nft-two-bridges-internal.nft',
    compileNftables({
      networks: [
        { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false },
        { bridge: 'br-0123456789ab', subnet: '172.18.0.0/16', internal: true },
      ],
    }),
  );
});

test('a transition replaces the table atomically and can be undone', () => {
  const op = nftTransition('t', { networks: [] });
  assert.match(op.script, /^add table ip berth\ndelete table ip berth\ntable ip berth \{/);
  assert.equal(op.undoScript, 'add table ip berth\ndelete table ip berth\n');
});
