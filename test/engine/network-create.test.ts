import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from '../../src/common/ipv4.js';
import { ConflictError, ExhaustedError, InvalidArgumentError } from '../../src/common/errors.js';
import { newNetwork, type CreateNetworkRequest, type NetworkCreateContext } from '../../src/engine/network-create.js';
import { defaultBridgeRecord } from '../../src/engine/default-bridge.js';
import { DOCKER_DEFAULT_POOLS, parseAddressPoolSpec, routeClaimsSubnet } from '../../src/ipam/subnets.js';
import { builtinNetworks, createContext, networkRequest } from './fixtures.js';

const ID = 'a19ca8dcfc5a'.padEnd(64, '0');

const request = (over: Partial<CreateNetworkRequest> = {}): CreateNetworkRequest => networkRequest(over);

function context(over: Partial<NetworkCreateContext> = {}): NetworkCreateContext {
  return createContext(builtinNetworks(), { routes: [{ subnet: parseCidr('198.51.100.0/24'), dev: 'uplink0', onLink: true }], ...over });
}

test('a network without options takes the next free pool subnet, its first address as gateway and br-<12 hex> as bridge', () => {
  const n = newNetwork(request(), context(), ID);
  assert.deepEqual(
    { subnet: n.ipam.subnets[0]!.subnet, gateway: n.ipam.subnets[0]!.gateway, bridge: n.driverData.bridge, userSubnet: n.ipam.userSubnet, ipRange: n.ipam.subnets[0]!.ipRange, driver: n.driver },
    { subnet: '172.18.0.0/16', gateway: '172.18.0.1', bridge: 'br-a19ca8dcfc5a', userSubnet: false, ipRange: undefined, driver: 'bridge' },
  );
});

test('pool selection skips other networks and host routes, then moves to 192.168.0.0/20 blocks', () => {
  const ctx = context();
  const routes = Array.from({ length: 14 }, (_, i) => ({ subnet: parseCidr(`172.${18 + i}.0.0/16`), dev: 'eth9', onLink: true }));
  assert.equal(newNetwork(request(), { ...ctx, routes }, ID).ipam.subnets[0]!.subnet, '192.168.0.0/20');
  assert.equal(newNetwork(request(), { ...ctx, routes: [...routes, { subnet: parseCidr('192.168.1.0/24'), dev: 'wlan0', onLink: true }] }, ID).ipam.subnets[0]!.subnet, '192.168.16.0/20');
});

test('a pool subnet holding a nameserver containers use is skipped (a loopback one is not in any pool)', () => {
  assert.equal(newNetwork(request(), context({ nameservers: ['127.0.0.53', '172.18.0.2', '::1'] }), ID).ipam.subnets[0]!.subnet, '172.19.0.0/16');
});

test('configured pools (--default-address-pool) are used, and their exhaustion is a specific error', () => {
  const pools = [parseAddressPoolSpec('base=10.77.0.0/23,size=24')];
  const first = newNetwork(request({ name: 'p1' }), context({ pools }), ID);
  assert.equal(first.ipam.subnets[0]!.subnet, '10.77.0.0/24');
  const second = newNetwork(request({ name: 'p2' }), context({ pools, existing: [...context().existing, first] }), ID);
  assert.equal(second.ipam.subnets[0]!.subnet, '10.77.1.0/24');
  assert.throws(
    () => newNetwork(request({ name: 'p3' }), context({ pools, existing: [...context().existing, first, second] })),
    (e: unknown) => e instanceof ExhaustedError && /no free subnet in the address pools/.test(e.message) && /--default-address-pool/.test(e.hint ?? ''),
  );
});

test('--subnet, --gateway, --ip-range and --aux-address are kept as given', () => {
  const n = newNetwork(
    request({ name: 'n3', ipam: [{ subnet: '10.10.0.0/24', gateway: '10.10.0.254', ipRange: '10.10.0.128/25', auxAddresses: { router: '10.10.0.253' } }] }),
    context(),
    ID,
  );
  assert.deepEqual(
    { subnet: n.ipam.subnets[0]!.subnet, gateway: n.ipam.subnets[0]!.gateway, ipRange: n.ipam.subnets[0]!.ipRange, aux: n.ipam.subnets[0]!.auxAddresses, userSubnet: n.ipam.userSubnet },
    { subnet: '10.10.0.0/24', gateway: '10.10.0.254', ipRange: '10.10.0.128/25', aux: { router: '10.10.0.253' }, userSubnet: true },
  );
});

function macvlan(ipam: CreateNetworkRequest['ipam'], options: Record<string, string> = { parent: 'uplink0' }): CreateNetworkRequest {
  return request({ name: 'lan', driver: 'macvlan', options, ipam });
}

test('macvlan with several subnets: each keeps its gateway, range and aux addresses; the driver\'s reserved address goes to its own subnet', () => {
  const n = newNetwork(
    macvlan(
      [
        { subnet: '198.51.100.0/24', gateway: '198.51.100.254', ipRange: '198.51.100.64/26', auxAddresses: {} },
        { subnet: '192.0.2.0/24', auxAddresses: { printer: '192.0.2.9' } },
      ],
      { parent: 'uplink0', 'berth.host_access': 'true', 'berth.host_access_address': '192.0.2.200' },
    ),
    context(),
    ID,
  );
  assert.deepEqual(n.ipam, {
    subnets: [
      { subnet: '198.51.100.0/24', gateway: '198.51.100.254', ipRange: '198.51.100.64/26', auxAddresses: {} },
      { subnet: '192.0.2.0/24', gateway: '192.0.2.1', auxAddresses: { printer: '192.0.2.9', 'berth-host-access': '192.0.2.200' } },
    ],
    userSubnet: true,
  });
});

test('ipvlan l3 with several subnets: no gateway in any of them', () => {
  const n = newNetwork(
    request({ name: 'l3', driver: 'ipvlan', options: { parent: 'uplink0', ipvlan_mode: 'l3' }, ipam: [{ subnet: '203.0.113.0/24', auxAddresses: {} }, { subnet: '192.0.2.0/24', auxAddresses: {} }] }),
    { ...context(), planOnly: true },
    ID,
  );
  assert.deepEqual(n.ipam.subnets.map((s) => [s.subnet, s.gateway]), [['203.0.113.0/24', undefined], ['192.0.2.0/24', undefined]]);
});

test('driver options: bridge name and MTU are applied; labels, internal and attachable are kept', () => {
  const n = newNetwork(
    request({ options: { 'com.docker.network.bridge.name': 'br-custom', 'com.docker.network.driver.mtu': '1400' }, labels: { team: 'a' }, internal: true, attachable: true }),
    context(),
    ID,
  );
  assert.deepEqual({ bridge: n.driverData.bridge, mtu: n.driverData.mtu, labels: n.labels, internal: n.internal, attachable: n.attachable }, { bridge: 'br-custom', mtu: 1400, labels: { team: 'a' }, internal: true, attachable: true });
});

test('every bad request is refused with what was wrong', () => {
  const withBridge2 = context({ existing: [...context().existing, newNetwork(request(), context(), ID)] });
  const cases: [string, CreateNetworkRequest, NetworkCreateContext, new (...a: never[]) => Error, RegExp][] = [
    ['duplicate name', request(), withBridge2, ConflictError, /^network with name bridge2 already exists$/],
    ['built-in name', request({ name: 'host' }), context(), ConflictError, /network name "host" is reserved for a built-in network/],
    ['invalid name', request({ name: '-x' }), context(), InvalidArgumentError, /invalid network name "-x"/],
    ['unknown driver', request({ driver: 'weave' }), context(), InvalidArgumentError, /unknown network driver "weave"/],
    ['second none network', request({ driver: 'null' }), context(), InvalidArgumentError, /only one instance of the "null" network is allowed/],
    ['second host network', request({ driver: 'host' }), context(), InvalidArgumentError, /only one instance of the "host" network is allowed/],
    ['unknown option', request({ options: { 'com.docker.network.bridge.enable_icc': 'false' } }), context(), InvalidArgumentError, /unknown bridge driver option "com\.docker\.network\.bridge\.enable_icc"/],
    ['bad mtu', request({ options: { 'com.docker.network.driver.mtu': '9x' } }), context(), InvalidArgumentError, /invalid com\.docker\.network\.driver\.mtu "9x"/],
    ['bridge name taken by a network', request({ options: { 'com.docker.network.bridge.name': 'berth0' } }), context(), ConflictError, /bridge name berth0 is already used by network bridge/],
    ['bridge name taken by a host link', request({ options: { 'com.docker.network.bridge.name': 'uplink0' } }), context(), ConflictError, /a link named uplink0 already exists on this host/],
    ['bridge name too long', request({ options: { 'com.docker.network.bridge.name': 'a-very-long-bridge-name' } }), context(), InvalidArgumentError, /invalid com\.docker\.network\.bridge\.name/],
    ['invalid CIDR', request({ ipam: [{ subnet: '10.0.0.0/33', auxAddresses: {} }] }), context(), InvalidArgumentError, /invalid CIDR "10\.0\.0\.0\/33"/],
    ['host bits set', request({ ipam: [{ subnet: '10.1.0.1/24', auxAddresses: {} }] }), context(), InvalidArgumentError, /host bits are set/],
    ['overlaps a network', request({ name: 'x', ipam: [{ subnet: '172.18.5.0/24', auxAddresses: {} }] }), withBridge2, ConflictError, /subnet 172\.18\.5\.0\/24 overlaps network bridge2 \(172\.18\.0\.0\/16\)/],
    ['overlaps the default bridge', request({ ipam: [{ subnet: '172.16.0.0/12', auxAddresses: {} }] }), context(), ConflictError, /overlaps network bridge \(172\.17\.0\.0\/16\)/],
    ['overlaps a host route', request({ ipam: [{ subnet: '198.51.100.0/25', auxAddresses: {} }] }), context(), ConflictError, /overlaps the host route 198\.51\.100\.0\/24 on uplink0/],
    ['gateway outside', request({ ipam: [{ subnet: '10.2.0.0/24', gateway: '10.3.0.1', auxAddresses: {} }] }), context(), InvalidArgumentError, /gateway 10\.3\.0\.1 is not a usable address of subnet 10\.2\.0\.0\/24/],
    ['gateway = broadcast', request({ ipam: [{ subnet: '10.2.0.0/24', gateway: '10.2.0.255', auxAddresses: {} }] }), context(), InvalidArgumentError, /gateway 10\.2\.0\.255 is not a usable address/],
    ['gateway without subnet', request({ ipam: [{ gateway: '10.2.0.1', auxAddresses: {} }] }), context(), InvalidArgumentError, /--gateway needs --subnet/],
    ['ip-range outside', request({ ipam: [{ subnet: '10.2.0.0/24', ipRange: '10.9.0.0/25', auxAddresses: {} }] }), context(), InvalidArgumentError, /ip range 10\.9\.0\.0\/25 is outside subnet 10\.2\.0\.0\/24/],
    ['ip-range larger than the subnet', request({ ipam: [{ subnet: '10.2.0.0/24', ipRange: '10.2.0.0/23', auxAddresses: {} }] }), context(), InvalidArgumentError, /ip range 10\.2\.0\.0\/23 is outside/],
    ['aux outside', request({ ipam: [{ subnet: '10.2.0.0/24', auxAddresses: { r: '10.4.0.1' } }] }), context(), InvalidArgumentError, /auxiliary address r=10\.4\.0\.1 is not a usable address/],
    ['aux = gateway', request({ ipam: [{ subnet: '10.2.0.0/24', auxAddresses: { r: '10.2.0.1' } }] }), context(), InvalidArgumentError, /auxiliary address r=10\.2\.0\.1 is the gateway/],
    ['two subnets on a bridge', request({ ipam: [{ subnet: '10.2.0.0/24', auxAddresses: {} }, { subnet: '10.3.0.0/24', auxAddresses: {} }] }), context(), InvalidArgumentError, /^the bridge driver takes one IPv4 subnet per network, 2 were given$/],
    ['overlapping subnets', macvlan([{ subnet: '10.2.0.0/24', auxAddresses: {} }, { subnet: '10.2.0.128/25', auxAddresses: {} }]), context(), InvalidArgumentError, /^subnets 10\.2\.0\.0\/24 and 10\.2\.0\.128\/25 overlap$/],
    ['a second config without subnet', macvlan([{ subnet: '10.2.0.0/24', auxAddresses: {} }, { gateway: '10.3.0.1', auxAddresses: {} }]), context(), InvalidArgumentError, /^IPAM config 2 of 2 has no subnet$/],
    ['a second subnet overlapping a network', macvlan([{ subnet: '10.2.0.0/24', auxAddresses: {} }, { subnet: '172.17.3.0/24', auxAddresses: {} }]), context(), ConflictError, /overlaps network bridge/],
    ['subnet too small', request({ ipam: [{ subnet: '10.2.0.0/31', auxAddresses: {} }] }), context(), InvalidArgumentError, /subnet 10\.2\.0\.0\/31 is too small/],
  ];
  for (const [what, req, ctx, type, message] of cases) {
    assert.throws(() => newNetwork(req, ctx), (e: unknown) => e instanceof type && message.test(e.message), what);
  }
});

test('only on-link routes claim subnets: a VPN\'s 0.0.0.0/1 + 128.0.0.0/1 and routes via a gateway leave the pools free', () => {
  const vpn = [
    { subnet: parseCidr('0.0.0.0/1'), dev: 'tun0', onLink: false },
    { subnet: parseCidr('128.0.0.0/1'), dev: 'tun0', onLink: false },
    { subnet: parseCidr('0.0.0.0/1'), dev: 'wg0', onLink: true },
    { subnet: parseCidr('172.18.0.0/16'), dev: 'eth0', onLink: false },
    { subnet: parseCidr('172.19.0.0/16'), dev: 'eth1', onLink: true },
  ];
  assert.deepEqual(vpn.filter(routeClaimsSubnet).map((r) => r.dev), ['eth1']);
  const routes = vpn.filter(routeClaimsSubnet);
  assert.equal(newNetwork(request(), context({ routes }), ID).ipam.subnets[0]!.subnet, '172.18.0.0/16');
  assert.equal(defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, routes).ipam.subnets[0]!.subnet, '172.17.0.0/16');
});

test('subnets no container network can live in are refused at create, naming the range', () => {
  const cases: [string, RegExp][] = [
    ['127.0.0.0/8', /subnet 127\.0\.0\.0\/8 cannot hold containers: 127\.0\.0\.0\/8 is loopback/],
    ['224.0.0.0/4', /224\.0\.0\.0\/4 is multicast/],
    ['169.254.0.0/16', /169\.254\.0\.0\/16 is link-local/],
    ['255.255.255.0/24', /240\.0\.0\.0\/4 is reserved/],
    ['0.0.0.0/1', /0\.0\.0\.0\/8 means "this network"/],
  ];
  for (const [subnet, message] of cases) {
    assert.throws(() => newNetwork(request({ ipam: [{ subnet, auxAddresses: {} }] }), context(), ID), (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message), subnet);
  }
  assert.throws(() => parseAddressPoolSpec('base=127.0.0.0/8,size=24'), /address pool 127\.0\.0\.0\/8 cannot hold containers/);
});
