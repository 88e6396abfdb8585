import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BridgeDriver } from '../../src/drivers/bridge/driver.js';
import { bridgeMac } from '../../src/drivers/bridge-mac.js';
import { hostVethName } from '../../src/drivers/veth.js';
import { joinPlan, macForAddress, type DriverNetwork } from '../../src/drivers/driver.js';
import { viewOf } from '../../src/kernel/view.js';

const NET: DriverNetwork = { id: 'n1', name: 'bridge', driver: 'bridge', internal: false, subnets: [{ subnet: '172.17.0.0/16', gateway: '172.17.0.1', auxAddresses: {} }], data: { bridge: 'berth0' } };
const EP = { id: 'e', ifname: 'eth0', hostIfname: 'veth1234567', address: '172.17.0.2', prefixLength: 16, mac: '02:42:ac:11:00:02' };

test('a bridge\'s MAC: derived from its seed, the same every time, unicast and locally administered', () => {
  const mac = bridgeMac('n1');
  assert.match(mac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/);
  assert.equal(bridgeMac('n1'), mac);
  assert.notEqual(bridgeMac('n2'), mac);
});

test('MAC is 02:42 followed by the IPv4 bytes (as the seeds show for docker0)', () => {
  assert.equal(macForAddress('172.17.0.2'), '02:42:ac:11:00:02');
  assert.equal(macForAddress('10.255.0.16'), '02:42:0a:ff:00:10');
});

test('host veth names are "veth" + 7 hex digits and fit IFNAMSIZ', () => {
  assert.equal(hostVethName(() => 'deadbee'), 'vethdeadbee');
  for (let i = 0; i < 50; i++) assert.match(hostVethName(), /^veth[0-9a-f]{7}$/);
});

test('the driver names endpoints: a fresh veth name no other link has, the MAC asked for or Docker\'s', () => {
  const driver = new BridgeDriver();
  const names = driver.createEndpoint(NET, { ifname: 'eth1', address: '172.17.0.9', takenHostNames: new Set() });
  assert.equal(names.ifname, 'eth1');
  assert.match(names.hostIfname ?? '', /^veth[0-9a-f]{7}$/);
  assert.equal(names.mac, '02:42:ac:11:00:09');
  assert.equal(driver.createEndpoint(NET, { ifname: 'eth0', address: '172.17.0.9', mac: '02:00:00:00:00:01', takenHostNames: new Set() }).mac, '02:00:00:00:00:01');
});

test('join creates the peer inside the namespace with its final name and MAC (no link moves); the default route comes from the join info', () => {
  const joined = new BridgeDriver().join(NET, 'berth-abc', EP);
  assert.deepEqual(joined.info, { defaultRoute: { via: '172.17.0.1' } });
  assert.deepEqual(joinPlan('berth-abc', joined, true), [
    { kind: 'veth-add', hostName: 'veth1234567', master: 'berth0', peerName: 'eth0', peerMac: '02:42:ac:11:00:02', peerNetns: 'berth-abc', mtu: undefined },
    // No IPv6 on either end before a carrier comes: no autoconfiguration messages. The host
    // end has IPv6 off altogether, so the host's IPv6 tables get no route per container.
    { kind: 'sysctl', key: 'net.ipv6.conf.veth1234567.disable_ipv6', value: '1' },
    { kind: 'addr-add', netns: 'berth-abc', dev: 'eth0', cidr: '172.17.0.2/16' },
    { kind: 'link-no-ipv6-address', netns: 'berth-abc', dev: 'eth0' },
    { kind: 'link-up', netns: 'berth-abc', dev: 'eth0' },
    { kind: 'route-add', netns: 'berth-abc', dst: 'default', via: '172.17.0.1' },
  ]);
  assert.equal(joinPlan('ns', joined, false).some((op) => op.kind === 'route-add'), false);
});

test('the network is its bridge with the gateway address, berth\'s alias and route_localnet; deleting plans only what exists', () => {
  const driver = new BridgeDriver();
  assert.deepEqual(driver.createNetwork(NET), [
    { kind: 'bridge-add', name: 'berth0', mac: bridgeMac('n1'), mtu: undefined },
    { kind: 'link-alias', dev: 'berth0', alias: 'berth-network:n1' },
    { kind: 'addr-add', dev: 'berth0', cidr: '172.17.0.1/16' },
    { kind: 'link-up', dev: 'berth0' },
    { kind: 'sysctl', key: 'net.ipv4.conf.berth0.route_localnet', value: '1' },
  ]);
  // Deleted in the background: taken down and renamed now, deleted by the reaper.
  assert.deepEqual(driver.deleteNetwork(NET, viewOf([{ name: 'berth0', kind: 'bridge' }])), [{ kind: 'link-del', dev: 'berth0', background: 'when-idle' }]);
  assert.deepEqual(driver.deleteNetwork(NET, viewOf()), []);
});

test('leaving with the namespace going plans nothing (the namespace takes the pair); otherwise the container end is put aside at once and the pair deleted in the background', () => {
  const driver = new BridgeDriver();
  assert.deepEqual(driver.leave(NET, 'ns', EP, { sandboxGoing: true }), []);
  assert.deepEqual(driver.leave(NET, 'ns', EP, { sandboxGoing: false }), [
    { kind: 'addr-del', netns: 'ns', dev: 'eth0', cidr: '172.17.0.2/16' },
    { kind: 'link-down', netns: 'ns', dev: 'eth0' },
    { kind: 'link-rename', netns: 'ns', dev: 'eth0', name: 'gone1234567' },
    { kind: 'link-del', dev: 'veth1234567', background: 'when-idle' },
  ]);
});

test('repair: each kind of drift gets its own fix, and no drift none', () => {
  const driver = new BridgeDriver();
  const running = [{ netns: 'berth-1', endpoint: EP, running: true, gatewayEndpoint: true, carriesPorts: true }];
  const healthy = viewOf([{ name: 'berth0', kind: 'bridge', alias: 'berth-network:n1' }, { name: 'veth1234567', kind: 'veth', master: 'berth0' }], { berth0: ['172.17.0.1/16'] });
  assert.deepEqual(driver.repair(NET, running, healthy), []);
  // The bridge is gone: re-created, and the veth that survived enslaved again (with hairpin: it carries ports).
  const noBridge = driver.repair(NET, running, viewOf([{ name: 'veth1234567', kind: 'veth' }]));
  assert.deepEqual(noBridge.map((op) => op.kind), ['bridge-add', 'link-alias', 'addr-add', 'link-up', 'sysctl', 'port-attach', 'link-up', 'port-hairpin']);
  // The address was removed and the bridge set down.
  const stripped = driver.repair(NET, running, viewOf([{ name: 'berth0', kind: 'bridge', alias: 'berth-network:n1', up: false }, { name: 'veth1234567', kind: 'veth', master: 'berth0' }]));
  assert.deepEqual(stripped.map((op) => op.kind), ['addr-add', 'link-up']);
  // The veth was deleted: the endpoint is joined again, default route included.
  const noVeth = driver.repair(NET, running, viewOf([{ name: 'berth0', kind: 'bridge', alias: 'berth-network:n1' }], { berth0: ['172.17.0.1/16'] }));
  assert.deepEqual(noVeth.map((op) => op.kind), ['veth-add', 'sysctl', 'addr-add', 'link-no-ipv6-address', 'link-up', 'route-add', 'port-hairpin']);
  // A stopped container's endpoint is left alone; a veth no record knows is removed.
  const stray = driver.repair(NET, [{ ...running[0]!, running: false }], viewOf([{ name: 'berth0', kind: 'bridge', alias: 'berth-network:n1' }, { name: 'vethabcdef0', master: 'berth0' }], { berth0: ['172.17.0.1/16'] }));
  assert.deepEqual(stray, [{ kind: 'link-del', dev: 'vethabcdef0' }]);
});

test('an endpoint for dockerd\'s sandbox: the peer stays in the host namespace, unaddressed, for dockerd to move; the gateway is the join info', () => {
  const driver = new BridgeDriver();
  const ep = { ...EP, ifname: 'bx0123456789' };
  const joined = driver.joinExternal(NET, ep);
  assert.deepEqual(joined.plan, [
    { kind: 'veth-add', hostName: 'veth1234567', master: 'berth0', peerName: 'bx0123456789', peerMac: '02:42:ac:11:00:02', mtu: undefined },
    { kind: 'sysctl', key: 'net.ipv6.conf.veth1234567.disable_ipv6', value: '1' },
  ]);
  assert.deepEqual(joined.info, { defaultRoute: { via: '172.17.0.1' } });
  assert.deepEqual(driver.joinExternal({ ...NET, internal: true }, ep).info, {});
  // Removing it deletes the host end (the pair goes, wherever dockerd left the peer); nothing once gone.
  assert.deepEqual(driver.removeExternal(NET, ep, viewOf([{ name: 'veth1234567', kind: 'veth', up: true }])), [{ kind: 'link-del', dev: 'veth1234567' }]);
  assert.deepEqual(driver.removeExternal(NET, ep, viewOf([])), []);
});

test('repair brings a running container\'s veth up again when someone took it down, and nothing else', () => {
  const live = viewOf([
    { name: 'berth0', kind: 'bridge', up: true, alias: 'berth-network:n1' },
    { name: 'veth1234567', kind: 'veth', master: 'berth0', up: false },
  ], { berth0: ['172.17.0.1/16'] });
  const recorded = { netns: 'berth-abc', endpoint: EP, running: true, gatewayEndpoint: true, carriesPorts: false };
  assert.deepEqual(new BridgeDriver().repair(NET, [recorded], live), [{ kind: 'link-up', dev: 'veth1234567' }]);
});
