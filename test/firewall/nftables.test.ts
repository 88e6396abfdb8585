import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupPorts, portElementsScript, compileNftables, nftTransition, publishPorts } from '../../src/firewall/nftables.js';
import { assertGolden } from '../golden.js';

test('ruleset for the default bridge (golden)', () => {
  assertGolden('nft-default-bridge.nft', compileNftables({ networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false }], ports: [] }));
});

test('ruleset for two bridges, one internal (golden)', () => {
  assertGolden(
    'nft-two-bridges-internal.nft',
    compileNftables({
      networks: [
        { bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false },
        { bridge: 'br-0123456789ab', subnet: '172.18.0.0/16', internal: true, hostAccess: false },
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
      networks: [{ bridge: 'berth0', subnet: '172.17.0.0/16', internal: false, hostAccess: false }],
      ports: [
        { protocol: 'tcp', hostIp: '', hostPort: 1180, containerIp: '172.17.0.2', containerPort: 5000 },
        { protocol: 'udp', hostIp: '', hostPort: 5353, containerIp: '172.17.0.2', containerPort: 53 },
        { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '172.17.0.3', containerPort: 80 },
        // -p 20000-20002:20000-20002 and -p 127.0.0.1:7000-7001:7000-7001: one interval element each.
        ...[20000, 20001, 20002].map((p) => ({ protocol: 'tcp' as const, hostIp: '', hostPort: p, containerIp: '172.17.0.4', containerPort: p })),
        ...[7000, 7001].map((p) => ({ protocol: 'udp' as const, hostIp: '127.0.0.1', hostPort: p, containerIp: '172.17.0.4', containerPort: p })),
      ],
    }),
  );
});

test('a run of ports that keep their number is one interval element; gaps, shifted ports and other targets split it', () => {
  const port = (hostPort: number, containerPort = hostPort, containerIp = '172.17.0.2') => ({ protocol: 'tcp' as const, hostIp: '', hostPort, containerIp, containerPort });
  const { singles, runs } = groupPorts([port(10), port(11), port(12), port(14), port(15), port(20, 80), port(16, 16, '172.17.0.3')]);
  assert.deepEqual(runs.map((r) => `${r.first}-${r.last}`), ['10-12', '14-15']);
  assert.deepEqual(singles.map((p) => p.hostPort).sort(), [16, 20]);
  const thousand = Array.from({ length: 1000 }, (_, i) => port(20000 + i));
  assert.equal(portElementsScript('add', thousand), 'add element ip berth pub_any_run { tcp . 20000-20999 : 172.17.0.2 }\n');
});

test('publishing a container adds exactly its elements, and undoing deletes exactly them', () => {
  const op = publishPorts('p', [
    { protocol: 'tcp', hostIp: '', hostPort: 1180, containerIp: '172.17.0.2', containerPort: 5000 },
    { protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80 },
  ]);
  assert.equal(op.script, 'add element ip berth pub_any { tcp . 1180 : 172.17.0.2 . 5000 }\nadd element ip berth pub_addr { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }\n');
  assert.equal(op.undoScript, op.script.replaceAll('add element', 'delete element'));
});
