import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/common/errors.js';
import type { DriverCreateContext, DriverNetwork } from '../../src/drivers/driver.js';
import { joinPlan } from '../../src/drivers/driver.js';
import { IpvlanDriver } from '../../src/drivers/ipvlan/driver.js';
import { ALL_FEATURES, LINK_KINDS } from '../../src/kernel/features.js';
import { renderPlan } from '../../src/kernel/render.js';
import { viewOf } from '../../src/kernel/view.js';

const ID = '1b2c3d4e5f60'.padEnd(64, '7');
const ADDRESSING = { subnet: '203.0.113.0/24', gateway: '203.0.113.1', auxAddresses: {} };
const EP = { id: 'e', ifname: 'eth0', address: '203.0.113.5', prefixLength: 24 };

function network(raw: Record<string, string>, over: Partial<DriverCreateContext> = {}): DriverNetwork {
  const c: DriverCreateContext = { id: ID, name: 'ipv', internal: false, subnets: [ADDRESSING], others: [], live: viewOf([{ name: 'uplink0' }]), ...over };
  const config = new IpvlanDriver(ALL_FEATURES).validateOptions(raw, c);
  const subnets = c.subnets.map(({ gateway, ...rest }) => (config.withoutGateway ? rest : { ...rest, gateway }));
  return { id: ID, name: c.name, driver: 'ipvlan', internal: c.internal, subnets, data: config.data };
}

test('l2 (the default): an ipvlan link born in the sandbox, sharing the parent\'s MAC, default route via the gateway', () => {
  const driver = new IpvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0' });
  assert.deepEqual(net.data, { parent: 'uplink0', createdParent: 'none', mode: 'l2', flag: 'bridge' });
  assert.equal(
    renderPlan(joinPlan('berth-c1', driver.join(net, 'berth-c1', EP), true)),
    [
      'ip link add link uplink0 name eth0 netns berth-c1 type ipvlan mode l2 bridge',
      'ip -n berth-c1 addr add 203.0.113.5/24 dev eth0',
      'ip -n berth-c1 link set dev eth0 addrgenmode none',
      'ip -n berth-c1 link set eth0 up',
      'ip -n berth-c1 route add default via 203.0.113.1',
    ].join('\n'),
  );
  assert.deepEqual(driver.createEndpoint(net, { ifname: 'eth0', address: '203.0.113.5', takenHostNames: new Set() }), { ifname: 'eth0' });
});

test('l3: no gateway on the network, the default route goes out of the device', () => {
  const driver = new IpvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0', ipvlan_mode: 'l3', ipvlan_flag: 'private' });
  assert.equal(net.subnets[0]!.gateway, undefined);
  assert.equal(
    renderPlan(joinPlan('ns', driver.join(net, 'ns', EP), true)),
    ['ip link add link uplink0 name eth0 netns ns type ipvlan mode l3 private', 'ip -n ns addr add 203.0.113.5/24 dev eth0', 'ip -n ns link set dev eth0 addrgenmode none', 'ip -n ns link set eth0 up', 'ip -n ns route add default dev eth0'].join('\n'),
  );
});

test('bad options, and a MAC it cannot honour, are refused with what is accepted', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ parent: 'uplink0', ipvlan_mode: 'l4' }, /invalid ipvlan_mode "l4"/],
    [{ parent: 'uplink0', ipvlan_flag: 'loose' }, /invalid ipvlan_flag "loose"/],
    [{ parent: 'uplink0', macvlan_mode: 'bridge' }, /unknown ipvlan driver option "macvlan_mode"/],
    [{}, /the ipvlan driver needs a parent link/],
  ];
  for (const [raw, message] of cases) assert.throws(() => network(raw), (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message), JSON.stringify(raw));
  assert.throws(
    () => new IpvlanDriver(ALL_FEATURES).createEndpoint(network({ parent: 'uplink0' }), { ifname: 'eth0', address: '203.0.113.5', mac: '02:00:00:00:00:01', takenHostNames: new Set() }),
    /an ipvlan endpoint cannot have its own MAC address/,
  );
});

test('the daemon lists ipvlan as unavailable on a kernel without it, saying why', () => {
  const features = { linkKinds: new Set(LINK_KINDS.filter((k) => k !== 'ipvlan')) };
  assert.deepEqual(new IpvlanDriver(features).probe(features), { available: false, reason: 'this kernel lacks ipvlan support (CONFIG_IPVLAN)' });
});

test("trace's path: a parent's children meet in every mode with the bridge flag, never with private or vepa", () => {
  const driver = new IpvlanDriver(ALL_FEATURES);
  assert.deepEqual(driver.pathOf(network({ parent: 'uplink0' })), { kind: 'lan', parent: 'uplink0', mode: 'l2 bridge', siblingsMeet: true });
  for (const mode of ['l2', 'l3', 'l3s']) {
    assert.deepEqual(driver.pathOf(network({ parent: 'uplink0', ipvlan_mode: mode })), { kind: 'lan', parent: 'uplink0', mode: `${mode} bridge`, siblingsMeet: true });
    for (const flag of ['private', 'vepa']) {
      assert.deepEqual(driver.pathOf(network({ parent: 'uplink0', ipvlan_mode: mode, ipvlan_flag: flag })), { kind: 'lan', parent: 'uplink0', mode: `${mode} ${flag}`, siblingsMeet: false });
    }
  }
});
