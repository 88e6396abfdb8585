import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BridgeDriver, hostVethName, macForAddress } from '../../src/drivers/bridge.js';

test('MAC is 02:42 followed by the IPv4 bytes (as the seeds show for docker0)', () => {
  assert.equal(macForAddress('172.17.0.2'), '02:42:ac:11:00:02');
  assert.equal(macForAddress('10.255.0.16'), '02:42:0a:ff:00:10');
});

test('host veth names are "veth" + 7 hex digits and fit IFNAMSIZ', () => {
  assert.equal(hostVethName(() => Buffer.from([0xde, 0xad, 0xbe, 0xef])), 'vethdeadbee');
  for (let i = 0; i < 50; i++) assert.match(hostVethName(), /^veth[0-9a-f]{7}$/);
});

test('join creates the peer inside the namespace with its final name and MAC (no link moves)', () => {
  const plan = new BridgeDriver().join(
    { id: 'n', name: 'bridge', bridge: 'berth0', subnet: '172.17.0.0/16', gateway: '172.17.0.1' },
    'berth-abc',
    { id: 'e', ifname: 'eth0', hostIfname: 'veth1234567', address: '172.17.0.2', prefixLength: 16, mac: '02:42:ac:11:00:02', isGatewayEndpoint: true },
  );
  assert.deepEqual(plan, [
    { kind: 'veth-add', hostName: 'veth1234567', master: 'berth0', peerName: 'eth0', peerMac: '02:42:ac:11:00:02', peerNetns: 'berth-abc', mtu: undefined },
    { kind: 'addr-add', netns: 'berth-abc', dev: 'eth0', cidr: '172.17.0.2/16' },
    { kind: 'link-up', netns: 'berth-abc', dev: 'eth0' },
    { kind: 'route-add', netns: 'berth-abc', dst: 'default', via: '172.17.0.1' },
  ]);
});

test('only the gateway endpoint gets the default route', () => {
  const plan = new BridgeDriver().join(
    { id: 'n', name: 'b2', bridge: 'br-1', subnet: '172.18.0.0/16', gateway: '172.18.0.1' },
    'ns',
    { id: 'e', ifname: 'eth1', hostIfname: 'veth7654321', address: '172.18.0.2', prefixLength: 16, mac: '02:42:ac:12:00:02', isGatewayEndpoint: false },
  );
  assert.equal(plan.some((op) => op.kind === 'route-add'), false);
});
