import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNftables, nftTransition, publishPorts } from '../../src/firewall/nftables.js';
import { assertGolden } from '../golden.js';

test('ruleset for the default bridge (golden)', () => {
  assertGolden('nft-default-bridge.nft', compileNftables({ networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false }], ports: [] }));
});

test('ruleset for two bridges, one internal (golden)', () => {
  assertGolden(
    'nft-two-bridges-internal.nft',
    compileNftables({
      networks: [
        { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false },
        { bridge: 'br-0123456789ab', subnet: '172.18.0.0/16', internal: true },
      ],
      ports: [],
    }),
  );
});

test('a transition replaces the table atomically and can be undone', () => {
  const op = nftTransition('t', { networks: [], ports: [] });
  assert.match(op.script, /^add table ip berth\ndelete table ip berth\ntable ip berth \{/);
  assert.equal(op.undoScript, 'add table ip berth\ndelete table ip berth\n');
});

test('published ports are map elements, by address when bound to one (golden)', () => {
  assertGolden(
    'nft-published-ports.nft',
    compileNftables({
      networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false }],
      ports: [
        { protocol: 'tcp', hostIp: '', hostPort: 1180, containerIp: '172.17.0.2', containerPort: 5000 },
        { protocol: 'udp', hostIp: '', hostPort: 5353, containerIp: '172.17.0.2', containerPort: 53 },
        { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '172.17.0.3', containerPort: 80 },
      ],
    }),
  );
});

test('publishing a container adds exactly its elements, and undoing deletes exactly them', () => {
  const op = publishPorts('p', [
    { protocol: 'tcp', hostIp: '', hostPort: 1180, containerIp: '172.17.0.2', containerPort: 5000 },
    { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 },
  ]);
  assert.equal(op.script, 'add element ip berth pub_any { tcp . 1180 : 172.17.0.2 . 5000 }\nadd element ip berth pub_addr { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }\n');
  assert.equal(op.undoScript, op.script.replaceAll('add element', 'delete element'));
});
