import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError, MissingFeatureError } from '../../src/common/errors.js';
import type { DriverCreateContext, DriverNetwork } from '../../src/drivers/driver.js';
import { OverlayDriver } from '../../src/drivers/overlay/driver.js';
import { ALL_FEATURES } from '../../src/kernel/features.js';
import { renderPlan } from '../../src/kernel/render.js';
import { viewOf } from '../../src/kernel/view.js';

const ID = '0a1b2c3d4e5f'.padEnd(64, '9');
const SUBNET = { subnet: '10.30.0.0/24', gateway: '10.30.0.1', auxAddresses: {} };
const VTEP = '203.0.113.10';
const CTX: DriverCreateContext = { id: ID, name: 'ov', internal: false, subnets: [SUBNET], others: [], live: viewOf([{ name: 'lo' }]) };

function network(raw: Record<string, string> = { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }): DriverNetwork {
  const config = new OverlayDriver(ALL_FEATURES, VTEP).validateOptions(raw, CTX);
  return { id: ID, name: 'ov', driver: 'overlay', internal: false, subnets: [SUBNET], data: config.data };
}

test('a bridge without an address and a VXLAN link on it: VNI, this host\'s VTEP, port 4789, MTU 1450', () => {
  const net = network();
  assert.deepEqual(net.data, { vni: 4097, mtu: 1450, bridge: 'ov-0a1b2c3d4e5f', vxlan: 'vx-0a1b2c3d4e5f' });
  assert.equal(
    renderPlan(new OverlayDriver(ALL_FEATURES, VTEP).createNetwork(net)).replace(/ address ([0-9a-f]{2}:){5}[0-9a-f]{2} /, ' address MAC '),
    [
      'ip link add ov-0a1b2c3d4e5f address MAC mtu 1450 type bridge forward_delay 0 mcast_snooping 0',
      `ip link set dev ov-0a1b2c3d4e5f alias berth-network:${ID}`,
      'ip link set ov-0a1b2c3d4e5f up',
      'ip link add vx-0a1b2c3d4e5f mtu 1450 type vxlan id 4097 local 203.0.113.10 dstport 4789 nolearning proxy',
      `ip link set dev vx-0a1b2c3d4e5f alias berth-network:${ID}`,
      'ip link set dev vx-0a1b2c3d4e5f master ov-0a1b2c3d4e5f',
      'ip link set vx-0a1b2c3d4e5f up',
    ].join('\n'),
  );
});

test('the bridge\'s MAC: the same for the network on one host every time, another on another host', () => {
  const bridgeMacOn = (vtep: string) => {
    const op = new OverlayDriver(ALL_FEATURES, vtep).createNetwork(network())[0]!;
    return op.kind === 'bridge-add' ? op.mac : undefined;
  };
  assert.equal(bridgeMacOn(VTEP), bridgeMacOn(VTEP));
  assert.notEqual(bridgeMacOn(VTEP), bridgeMacOn('203.0.113.11'));
});

test('an endpoint is a veth on the bridge with the VXLAN MTU, and no default route through the overlay', () => {
  const driver = new OverlayDriver(ALL_FEATURES, VTEP);
  const net = network();
  const names = driver.createEndpoint(net, { ifname: 'eth0', address: '10.30.0.2', takenHostNames: new Set() });
  assert.match(names.hostIfname!, /^veth[0-9a-f]{7}$/);
  assert.equal(names.mac, '02:42:0a:1e:00:02');
  const joined = driver.join(net, 'ns', { id: 'e', ...names, address: '10.30.0.2', prefixLength: 24 });
  assert.deepEqual(joined.info, {});
  assert.match(renderPlan(joined.plan), new RegExp(`^ip link add ${names.hostIfname!} mtu 1450 numtxqueues 1 numrxqueues 1 master ov-0a1b2c3d4e5f up type veth peer name eth0 mtu 1450 numtxqueues 1 numrxqueues 1 address 02:42:0a:1e:00:02 netns ns$`, 'm'));
  // The bridge may remember this MAC behind the tunnel (the address was another host's a moment ago): its port says where it is now.
  assert.match(renderPlan(joined.plan), new RegExp(`^bridge fdb replace 02:42:0a:1e:00:02 dev ${names.hostIfname!} master static$`, 'm'));
});

test('remote endpoints: FDB and neighbour entries added and removed; an address reused by another endpoint is replaced, never left stale', () => {
  const driver = new OverlayDriver(ALL_FEATURES, VTEP);
  const net = network();
  const b2 = { address: '10.30.0.2', mac: '02:42:0a:1e:00:02', vtep: '203.0.113.11' };
  const c3 = { address: '10.30.0.3', mac: '02:42:0a:1e:00:03', vtep: '203.0.113.12' };
  assert.equal(
    renderPlan(driver.peersChanged(net, [], [b2, c3])),
    [
      'bridge fdb replace 02:42:0a:1e:00:02 dev vx-0a1b2c3d4e5f dst 203.0.113.11',
      'ip neigh replace 10.30.0.2 lladdr 02:42:0a:1e:00:02 dev vx-0a1b2c3d4e5f nud permanent',
      'bridge fdb replace 02:42:0a:1e:00:03 dev vx-0a1b2c3d4e5f dst 203.0.113.12',
      'ip neigh replace 10.30.0.3 lladdr 02:42:0a:1e:00:03 dev vx-0a1b2c3d4e5f nud permanent',
    ].join('\n'),
  );
  assert.deepEqual(driver.peersChanged(net, [b2, c3], [c3, b2]), [], 'nothing changed: nothing planned');
  assert.equal(
    renderPlan(driver.peersChanged(net, [b2, c3], [c3])),
    ['bridge fdb del 02:42:0a:1e:00:02 dev vx-0a1b2c3d4e5f dst 203.0.113.11', 'ip neigh del 10.30.0.2 dev vx-0a1b2c3d4e5f'].join('\n'),
  );
  // .2 freed on host b and taken by a container on host c (another MAC when given, another VTEP).
  const c2 = { address: '10.30.0.2', mac: '02:42:0a:1e:00:99', vtep: '203.0.113.12' };
  assert.equal(
    renderPlan(driver.peersChanged(net, [b2, c3], [c2, c3])),
    [
      'bridge fdb del 02:42:0a:1e:00:02 dev vx-0a1b2c3d4e5f dst 203.0.113.11',
      'bridge fdb replace 02:42:0a:1e:00:99 dev vx-0a1b2c3d4e5f dst 203.0.113.12',
      'ip neigh replace 10.30.0.2 lladdr 02:42:0a:1e:00:99 dev vx-0a1b2c3d4e5f nud permanent',
    ].join('\n'),
  );
});

test('repair: a lost VXLAN link is made again and attached; a detached one re-attached; nothing to do when all is there', () => {
  const driver = new OverlayDriver(ALL_FEATURES, VTEP);
  const net = network();
  const healthy = viewOf([{ name: 'ov-0a1b2c3d4e5f', kind: 'bridge' }, { name: 'vx-0a1b2c3d4e5f', kind: 'vxlan', master: 'ov-0a1b2c3d4e5f' }]);
  assert.deepEqual(driver.repair(net, [], healthy), []);
  assert.match(renderPlan(driver.repair(net, [], viewOf([{ name: 'ov-0a1b2c3d4e5f', kind: 'bridge' }]))), /^ip link add vx-0a1b2c3d4e5f mtu 1450 type vxlan id 4097/m);
  assert.deepEqual(driver.repair(net, [], viewOf([{ name: 'ov-0a1b2c3d4e5f', kind: 'bridge' }, { name: 'vx-0a1b2c3d4e5f', kind: 'vxlan' }])), [
    { kind: 'port-attach', dev: 'vx-0a1b2c3d4e5f', master: 'ov-0a1b2c3d4e5f' },
    { kind: 'link-up', dev: 'vx-0a1b2c3d4e5f' },
  ]);
  assert.deepEqual(driver.deleteNetwork(net, viewOf([{ name: 'ov-0a1b2c3d4e5f' }])), [{ kind: 'link-del', dev: 'ov-0a1b2c3d4e5f' }]);
});

test('without a cluster the driver is unavailable, saying why; with one, where the kernel has VXLAN', () => {
  assert.deepEqual(new OverlayDriver(ALL_FEATURES, undefined).probe(ALL_FEATURES), { available: false, reason: 'overlay networks need a cluster store: start the daemon with --cluster-store' });
  assert.deepEqual(new OverlayDriver(ALL_FEATURES, VTEP).probe(ALL_FEATURES), { available: true });
  assert.deepEqual(new OverlayDriver(ALL_FEATURES, VTEP).probe({ linkKinds: new Set(['bridge', 'veth']) }), { available: false, reason: 'this kernel has no vxlan links' });
});

test('the MTU follows the underlay: its MTU minus 50, unless -o com.docker.network.driver.mtu says otherwise', () => {
  const jumbo = new OverlayDriver(ALL_FEATURES, VTEP, 9000);
  assert.equal(jumbo.validateOptions({}, { ...CTX, vni: 4096 }).data.mtu, 8950);
  assert.equal(jumbo.validateOptions({ 'com.docker.network.driver.mtu': '1400' }, { ...CTX, vni: 4096 }).data.mtu, 1400);
  assert.equal(new OverlayDriver(ALL_FEATURES, VTEP).validateOptions({}, { ...CTX, vni: 4096 }).data.mtu, 1450, 'unknown underlay: 1500 assumed');
});

test('errors: no cluster store, -o encrypted without ESP, bad VNI or MTU, unknown options', () => {
  const noEsp = { ...ALL_FEATURES, ipsecEsp: false };
  const cases: [string, OverlayDriver, Record<string, string>, new (...a: never[]) => Error, RegExp][] = [
    ['no cluster', new OverlayDriver(ALL_FEATURES, undefined), { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, MissingFeatureError, /^overlay networks need a cluster store: start the daemon with --cluster-store$/],
    ['encrypted, no ESP', new OverlayDriver(noEsp, VTEP), { encrypted: '' }, MissingFeatureError, /^an encrypted overlay network needs IPsec ESP support \(CONFIG_INET_ESP, CONFIG_XFRM_USER\), which this kernel lacks$/],
    ['encrypted with ESP', new OverlayDriver(ALL_FEATURES, VTEP), { encrypted: 'true' }, InvalidArgumentError, /encrypted overlay networks are not built yet/],
    ['bad VNI', new OverlayDriver(ALL_FEATURES, VTEP), { 'com.docker.network.driver.overlay.vxlanid_list': '16777216' }, InvalidArgumentError, /invalid com\.docker\.network\.driver\.overlay\.vxlanid_list "16777216"/],
    ['bad MTU', new OverlayDriver(ALL_FEATURES, VTEP), { 'com.docker.network.driver.overlay.vxlanid_list': '5', 'com.docker.network.driver.mtu': '65500' }, InvalidArgumentError, /invalid com\.docker\.network\.driver\.mtu "65500"/],
    ['unknown', new OverlayDriver(ALL_FEATURES, VTEP), { parent: 'eth0' }, InvalidArgumentError, /unknown overlay driver option "parent"/],
  ];
  for (const [what, driver, raw, type, message] of cases) {
    assert.throws(() => driver.validateOptions(raw, CTX), (e: unknown) => e instanceof type && message.test(e.message), what);
  }
});
