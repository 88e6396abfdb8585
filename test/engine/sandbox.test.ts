import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attachmentsFor } from '../../src/engine/endpoints.js';
import { planNewContainer } from '../../src/engine/sandbox-plans.js';
import { defaultBridgeRecord } from '../../src/engine/default-bridge.js';
import { sandboxDownPlan, sandboxName } from '../../src/engine/sandbox.js';
import { hostsFileContent, resolvConfFor } from '../../src/engine/container-files.js';
import { renderPlan } from '../../src/kernel/render.js';
import { parseCidr } from '../../src/common/ipv4.js';
import { assertGolden } from '../golden.js';
import { DOCKER_DEFAULT_POOLS } from '../../src/ipam/subnets.js';
import { engineTables } from './fixtures.js';

test('the plan of a container attach on the default bridge (golden dry-run text)', async () => {
  const { networks, ipam } = await engineTables();
  const { plan } = await planNewContainer(networks, ipam, { name: 'c0ffee', id: 'c0ffee'.padEnd(64, '0'), attachments: [{ networkId: networks.get('bridge').id, aliases: [] }] }, new Set());
  // The host veth name is random; pin it for the golden comparison.
  const text = renderPlan(plan).replace(/veth[0-9a-f]{7}/g, 'vethXXXXXXX');
  assertGolden('attach-default-bridge.sh', text + '\n');
  // Planning changes nothing: the same address is proposed again.
  assert.match(renderPlan((await planNewContainer(networks, ipam, { name: 'c2', attachments: [{ networkId: networks.get('bridge').id, aliases: [] }] }, new Set())).plan), /addr add 172\.17\.0\.2\/16/);
});

test('the default bridge takes the next /16 when the host routes 172.17/16, ignoring its own bridge', () => {
  const routes = [{ subnet: parseCidr('172.17.0.0/16'), dev: 'eth0', onLink: true }];
  assert.equal(defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, routes).ipam.subnets[0]!.subnet, '172.18.0.0/16');
  assert.equal(defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, [{ subnet: parseCidr('172.17.0.0/16'), dev: 'berth0', onLink: true }]).ipam.subnets[0]!.subnet, '172.17.0.0/16');
  const bip = defaultBridgeRecord({ bridge: 'br9', bip: '10.99.0.1/24', pools: DOCKER_DEFAULT_POOLS }, []);
  assert.deepEqual([bip.ipam.subnets[0]!.subnet, bip.ipam.subnets[0]!.gateway, bip.driverData.bridge], ['10.99.0.0/24', '10.99.0.1', 'br9']);
});

test('teardown plans only what still exists, so rm is idempotent', async () => {
  const { networks } = await engineTables();
  const [attachment] = attachmentsFor(networks, [
    { id: 'e', networkId: networks.get('bridge').id, ifname: 'eth0', hostIfname: 'veth1111111', address: '172.17.0.2', prefixLength: 16, mac: '02:42:ac:11:00:02', gateway: '172.17.0.1', gatewayEndpoint: true },
  ]);
  const ns = sandboxName('ab'.repeat(32));
  // The namespace takes its interfaces (and their veth peers, named so that nothing deletes them meanwhile) with it.
  assert.deepEqual(sandboxDownPlan(ns, [attachment!], { links: new Set(['veth1111111']), netns: new Set([ns]) }), [
    { kind: 'netns-del', name: 'berth-abababababab', takes: ['veth1111111'] },
  ]);
  // Namespace already gone (deleted by hand): the host end that survived is deleted (in the background).
  assert.deepEqual(sandboxDownPlan(ns, [attachment!], { links: new Set(['veth1111111']), netns: new Set() }), [
    { kind: 'link-del', dev: 'veth1111111', background: 'when-idle' },
  ]);
  assert.deepEqual(sandboxDownPlan(ns, [attachment!], { links: new Set(), netns: new Set() }), []);
});

test('container files: hosts names the container, resolv.conf drops loopback nameservers', () => {
  assert.match(hostsFileContent('a1', ['172.17.0.2']), /^127\.0\.0\.1\tlocalhost\n[\s\S]*172\.17\.0\.2\ta1\n$/);
  assert.equal(
    resolvConfFor('direct', 'search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions ndots:2\n', [], { nameservers: [], search: [], options: [] }),
    'nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2\n',
  );
});
