import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, InvalidArgumentError, MissingFeatureError } from '../../src/common/errors.js';
import { macForAddress, type DriverCreateContext, type DriverNetwork } from '../../src/drivers/driver.js';
import { MacvlanDriver } from '../../src/drivers/macvlan/driver.js';
import { ALL_FEATURES, LINK_KINDS, type LinkKind } from '../../src/kernel/features.js';
import { renderPlan } from '../../src/kernel/render.js';
import { viewOf } from '../../src/kernel/view.js';

const ID = '5e1f2a3b4c5d'.padEnd(64, '6');
const ADDRESSING = { subnet: '198.51.100.0/24', gateway: '198.51.100.254', auxAddresses: {} };
const LIVE = viewOf([{ name: 'lo' }, { name: 'uplink0', kind: 'veth' }]);

function without(...kinds: LinkKind[]) {
  return { linkKinds: new Set(LINK_KINDS.filter((k) => !kinds.includes(k))) };
}

function ctx(over: Partial<DriverCreateContext> = {}): DriverCreateContext {
  return { id: ID, name: 'lan', internal: false, subnets: [ADDRESSING], others: [], live: LIVE, ...over };
}

function network(raw: Record<string, string>, over: Partial<DriverCreateContext> = {}, features = ALL_FEATURES): DriverNetwork {
  const c = ctx(over);
  const config = new MacvlanDriver(features).validateOptions(raw, c);
  return { id: ID, name: c.name, driver: 'macvlan', internal: c.internal, subnets: [{ ...ADDRESSING, auxAddresses: { ...ADDRESSING.auxAddresses, ...config.reservedAddresses } }], data: config.data };
}

const EP = { id: 'e', ifname: 'eth0', address: '198.51.100.2', prefixLength: 24, mac: '02:42:c6:33:64:02' };

test('an endpoint is a macvlan link born in the sandbox as eth0, with its MAC, address and default route via the gateway', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0' });
  assert.deepEqual(net.data, { parent: 'uplink0', createdParent: 'none', mode: 'bridge' });
  assert.deepEqual(driver.createNetwork(net), [], 'an existing parent is used as it is');
  const joined = driver.join(net, 'berth-c1', EP);
  assert.equal(
    renderPlan(joined.plan),
    [
      'ip link add link uplink0 name eth0 netns berth-c1 address 02:42:c6:33:64:02 type macvlan mode bridge',
      'ip -n berth-c1 addr add 198.51.100.2/24 dev eth0',
      'ip -n berth-c1 link set eth0 up',
    ].join('\n'),
  );
  assert.deepEqual(joined.info, { defaultRoute: { via: '198.51.100.254' } });
  assert.deepEqual(driver.createEndpoint(net, { ifname: 'eth0', address: '198.51.100.2', takenHostNames: new Set() }), { ifname: 'eth0', mac: '02:42:c6:33:64:02' });
});

test('leaving: the link is deleted, or only taken down when its namespace is about to go (the MAC is free at once, no RCU wait)', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0' });
  assert.deepEqual(driver.leave(net, 'ns', EP, { sandboxGoing: false }), [{ kind: 'link-del', netns: 'ns', dev: 'eth0' }]);
  assert.deepEqual(driver.leave(net, 'ns', EP, { sandboxGoing: true }), [{ kind: 'link-down', netns: 'ns', dev: 'eth0' }]);
});

test('modes are passed to the kernel; an internal network has no default route', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  for (const mode of ['private', 'vepa', 'passthru'] as const) {
    assert.match(renderPlan(driver.join(network({ parent: 'uplink0', macvlan_mode: mode }), 'ns', EP).plan), new RegExp(`type macvlan mode ${mode}$`, 'm'));
  }
  assert.deepEqual(driver.join(network({ parent: 'uplink0' }, { internal: true }), 'ns', EP).info, {});
});

test('parent=IF.VLAN that does not exist is created (and aliased as berth\'s), and removed with the network', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0.10' });
  assert.equal(net.data.createdParent, 'vlan');
  assert.equal(
    renderPlan(driver.createNetwork(net)),
    ['ip link add link uplink0 name uplink0.10 type vlan id 10', `ip link set dev uplink0.10 alias berth-network:${ID}`, 'ip link set uplink0.10 up'].join('\n'),
  );
  assert.deepEqual(driver.deleteNetwork(net, viewOf([{ name: 'uplink0' }, { name: 'uplink0.10', kind: 'vlan' }])), [{ kind: 'link-del', dev: 'uplink0.10' }]);
  assert.deepEqual(driver.deleteNetwork(net, viewOf([{ name: 'uplink0' }])), [], 'already gone: nothing to do');
  // An existing VLAN link is the user's: used, never removed.
  const users = network({ parent: 'uplink0.20' }, { live: viewOf([{ name: 'uplink0' }, { name: 'uplink0.20', kind: 'vlan' }]) });
  assert.equal(users.data.createdParent, 'none');
  assert.deepEqual(driver.deleteNetwork(users, viewOf([{ name: 'uplink0.20' }])), []);
});

test('without 802.1q support the VLAN parent is refused, naming the link and the missing support', () => {
  assert.throws(
    () => network({ parent: 'uplink0.10' }, {}, without('vlan')),
    (e: unknown) => e instanceof MissingFeatureError && /cannot create the VLAN link uplink0\.10: this kernel lacks 802\.1q VLAN support \(CONFIG_VLAN_8021Q\)/.test(e.message),
  );
});

test('--internal without a parent: a dummy parent as Docker, or a bridge with no ports where the kernel has no dummy links', () => {
  const dummy = network({}, { internal: true });
  assert.deepEqual([dummy.data.parent, dummy.data.createdParent], ['dm-5e1f2a3b4c5d', 'dummy']);
  assert.match(renderPlan(new MacvlanDriver(ALL_FEATURES).createNetwork(dummy)), /^ip link add dm-5e1f2a3b4c5d type dummy$/m);
  const bridged = network({}, { internal: true }, without('dummy'));
  assert.equal(bridged.data.createdParent, 'bridge');
  assert.match(renderPlan(new MacvlanDriver(without('dummy')).createNetwork(bridged)), /^ip link add dm-5e1f2a3b4c5d type bridge forward_delay 0 mcast_snooping 0$/m);
});

test('host access: a bridge-mode macvlan link of the host with the highest free address, and a /32 route per endpoint', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0', 'berth.host_access': 'true' });
  // .255 is broadcast, .254 the gateway: .253 it is, kept out of the pool.
  assert.deepEqual(net.subnets[0]!.auxAddresses, { 'berth-host-access': '198.51.100.253' });
  assert.equal(
    renderPlan(driver.createNetwork(net)),
    ['ip link add link uplink0 name mh-5e1f2a3b4c5d type macvlan mode bridge', `ip link set dev mh-5e1f2a3b4c5d alias berth-network:${ID}`, 'ip addr add 198.51.100.253/32 dev mh-5e1f2a3b4c5d', 'ip link set mh-5e1f2a3b4c5d up'].join('\n'),
  );
  assert.match(renderPlan(driver.join(net, 'ns', EP).plan), /^ip route replace 198\.51\.100\.2\/32 dev mh-5e1f2a3b4c5d$/m);
  assert.deepEqual(driver.deleteNetwork(net, viewOf([{ name: 'uplink0' }, { name: 'mh-5e1f2a3b4c5d' }])), [{ kind: 'link-del', dev: 'mh-5e1f2a3b4c5d' }]);
  const chosen = network({ parent: 'uplink0', 'berth.host_access': 'true', 'berth.host_access_address': '198.51.100.100' });
  assert.deepEqual(chosen.subnets[0]!.auxAddresses, { 'berth-host-access': '198.51.100.100' });
});

test('bad options are refused with what was wrong and what is accepted', () => {
  const used: DriverNetwork = { id: 'x', name: 'lan1', driver: 'macvlan', internal: false, subnets: [ADDRESSING], data: { parent: 'uplink0', createdParent: 'none', mode: 'bridge' } };
  const cases: [string, Record<string, string>, Partial<DriverCreateContext>, new (...a: never[]) => Error, RegExp][] = [
    ['no parent', {}, {}, InvalidArgumentError, /the macvlan driver needs a parent link: -o parent=IF/],
    ['missing parent', { parent: 'eth9' }, {}, InvalidArgumentError, /parent link eth9 does not exist on this host/],
    ['missing VLAN base', { parent: 'eth9.10' }, {}, InvalidArgumentError, /parent link eth9 \(of the VLAN link eth9\.10\) does not exist/],
    ['bad VLAN id', { parent: 'uplink0.5000' }, {}, InvalidArgumentError, /invalid VLAN id 5000/],
    ['bad parent name', { parent: 'a/b' }, {}, InvalidArgumentError, /invalid parent "a\/b"/],
    ['parent taken', { parent: 'uplink0' }, { others: [used] }, ConflictError, /parent link uplink0 is already used by macvlan network lan1/],
    ['bad mode', { parent: 'uplink0', macvlan_mode: 'l2' }, {}, InvalidArgumentError, /invalid macvlan_mode "l2".*|accepted values: bridge, private, vepa, passthru/],
    ['unknown option', { parent: 'uplink0', ipvlan_mode: 'l2' }, {}, InvalidArgumentError, /unknown macvlan driver option "ipvlan_mode"/],
    ['host access in private mode', { parent: 'uplink0', macvlan_mode: 'private', 'berth.host_access': 'true' }, {}, InvalidArgumentError, /berth\.host_access needs macvlan_mode=bridge, not private/],
    ['host access not boolean', { parent: 'uplink0', 'berth.host_access': 'yes' }, {}, InvalidArgumentError, /invalid berth\.host_access "yes"/],
    ['host address without host access', { parent: 'uplink0', 'berth.host_access_address': '198.51.100.9' }, {}, InvalidArgumentError, /needs berth\.host_access=true/],
    ['host address = gateway', { parent: 'uplink0', 'berth.host_access': 'true', 'berth.host_access_address': '198.51.100.254' }, {}, InvalidArgumentError, /it is the gateway or an auxiliary address/],
  ];
  for (const [what, raw, over, type, message] of cases) {
    assert.throws(() => network(raw, over), (e: unknown) => e instanceof type && message.test(e.message), what);
  }
  const error = (() => {
    try {
      network({ parent: 'uplink0', macvlan_mode: 'l2' });
    } catch (e) {
      return e as InvalidArgumentError;
    }
    return undefined;
  })();
  assert.equal(error?.hint, 'accepted values: bridge, private, vepa, passthru');
});

test('the driver is unavailable, with the reason, on a kernel without macvlan', () => {
  assert.deepEqual(new MacvlanDriver(ALL_FEATURES).probe(without('macvlan')), { available: false, reason: 'this kernel lacks macvlan support (CONFIG_MACVLAN)' });
});

test('repair: a lost VLAN parent and host link are made again; a running container\'s missing endpoint is joined again', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net = network({ parent: 'uplink0.10', 'berth.host_access': 'true' });
  const eps = [{ netns: 'berth-c1', endpoint: EP, running: true, gatewayEndpoint: true, carriesPorts: false }];
  const links = [{ name: 'uplink0' }, { name: 'uplink0.10', kind: 'vlan' }, { name: 'mh-5e1f2a3b4c5d', kind: 'macvlan' }];
  const healthy = viewOf(links, { 'mh-5e1f2a3b4c5d': ['198.51.100.253/32'] }, { 'berth-c1': ['lo', 'eth0'] });
  assert.deepEqual(driver.repair(net, eps, healthy), []);
  // The host's link lost its address and went down: both come back, nothing else is touched.
  const stripped = viewOf(links.map((l) => (l.name.startsWith('mh-') ? { ...l, up: false } : l)), {}, { 'berth-c1': ['lo', 'eth0'] });
  assert.deepEqual(driver.repair(net, eps, stripped), [{ kind: 'addr-add', dev: 'mh-5e1f2a3b4c5d', cidr: '198.51.100.253/32' }, { kind: 'link-up', dev: 'mh-5e1f2a3b4c5d' }]);
  const lost = driver.repair(net, eps, viewOf([{ name: 'uplink0' }], {}, { 'berth-c1': ['lo'] }));
  assert.deepEqual(lost.map((op) => op.kind), ['vlan-add', 'link-alias', 'link-up', 'macvlan-add', 'link-alias', 'addr-add', 'link-up', 'route-add', 'macvlan-add', 'addr-add', 'link-no-ipv6-address', 'link-up', 'route-add', 'route-add']);
  // A user's parent that is gone cannot be repaired: nothing is planned (the attempt would fail).
  const users = network({ parent: 'uplink0' });
  assert.deepEqual(driver.repair(users, eps, viewOf([], {}, { 'berth-c1': ['lo'] })), []);
});

test('with several subnets, an endpoint routes via the gateway of its own subnet', () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  const net: DriverNetwork = { ...network({ parent: 'uplink0' }), subnets: [ADDRESSING, { subnet: '192.0.2.0/24', gateway: '192.0.2.254', auxAddresses: {} }] };
  const second = { ...EP, address: '192.0.2.7', mac: macForAddress('192.0.2.7') };
  assert.deepEqual(driver.join(net, 'ns', second).info, { defaultRoute: { via: '192.0.2.254' } });
  assert.deepEqual(driver.join(net, 'ns', EP).info, { defaultRoute: { via: ADDRESSING.gateway } });
});

test("trace's path: one more host of the parent's LAN; only bridge mode lets a parent's children meet", () => {
  const driver = new MacvlanDriver(ALL_FEATURES);
  assert.deepEqual(driver.pathOf(network({ parent: 'uplink0' })), { kind: 'lan', parent: 'uplink0', mode: 'bridge', siblingsMeet: true });
  for (const mode of ['private', 'vepa', 'passthru']) {
    assert.deepEqual(driver.pathOf(network({ parent: 'uplink0', macvlan_mode: mode })), { kind: 'lan', parent: 'uplink0', mode, siblingsMeet: false });
  }
});
