import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../src/common/errors.js';
import { resolveContainerConfig, type CreateContainerRequest } from '../../src/engine/container-config.js';
import { ContainerTable } from '../../src/engine/containers.js';
import { allocateEndpoints, nextIfname } from '../../src/engine/endpoints.js';
import { initialState, type ContainerRecord } from '../../src/engine/model.js';
import { newBridgeNetwork } from '../../src/engine/network-create.js';
import { defaultBridgeRecord, NetworkTable, nullNetworkRecord } from '../../src/engine/networks.js';
import { DOCKER_DEFAULT_POOLS } from '../../src/ipam/subnets.js';
import { EMPTY_RESOLV_CONF } from '../../src/dns/resolvconf.js';

function world() {
  const networks = new NetworkTable();
  networks.add(defaultBridgeRecord({ bridge: 'berth0', pools: DOCKER_DEFAULT_POOLS }, []));
  networks.add(nullNetworkRecord('host'));
  networks.add(nullNetworkRecord('none'));
  const base = { driver: 'bridge', internal: false, attachable: false, labels: {}, options: {} };
  const ctx = () => ({ existing: networks.all(), routes: [], hostLinks: new Set<string>(), nameservers: [], pools: DOCKER_DEFAULT_POOLS });
  networks.add(newBridgeNetwork({ ...base, name: 'auto', ipam: [] }, ctx()));
  networks.add(newBridgeNetwork({ ...base, name: 'n3', ipam: [{ subnet: '10.10.0.0/24', gateway: '10.10.0.254', ipRange: '10.10.0.128/25', auxAddresses: { r: '10.10.0.253' } }] }, ctx()));
  networks.add(newBridgeNetwork({ ...base, name: 'backend', internal: true, ipam: [{ subnet: '10.20.0.0/24', auxAddresses: {} }] }, ctx()));
  const containers = new ContainerTable();
  const bb1: ContainerRecord = {
    id: 'fca1467bc863'.padEnd(64, '1'), name: 'bb1', created: '', hostname: 'bb1', command: ['sleep'], env: [], labels: {}, autoRemove: false,
    networkMode: 'bridge', netns: 'berth-fca1467bc863', networks: [], dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], embeddedDns: false, endpoints: [], portMappings: [], ports: [], state: initialState(),
  };
  containers.set(bb1);
  return { networks, containers, bb1 };
}

function req(over: Partial<CreateContainerRequest> = {}): CreateContainerRequest {
  return { name: 'c', command: ['sleep'], env: [], labels: {}, networkMode: 'bridge', endpoint: { aliases: [] }, autoRemove: false, portMappings: [], dns: EMPTY_RESOLV_CONF, extraHosts: [], links: [], ...over };
}

const NEW_ID = '3f2a9c01d4e5'.padEnd(64, '7');

const PORT = { protocol: 'tcp', hostIp: '', hostPorts: { first: 8081, last: 8081 }, containerPort: 8080 } as const;

test('bridge mode: the network named, with --ip, --mac-address and aliases checked and kept', () => {
  const t = world();
  const c = resolveContainerConfig(req({ networkMode: 'n3', endpoint: { aliases: ['db'], ipv4Address: '10.10.0.9', macAddress: '02:42:AC:12:00:99' } }), t, NEW_ID);
  assert.equal(c.networkMode, 'n3');
  assert.deepEqual(c.networks, [{ networkId: t.networks.get('n3').id, aliases: ['db'], ipv4Address: '10.10.0.9', macAddress: '02:42:ac:12:00:99' }]);
  assert.equal(resolveContainerConfig(req({ networkMode: 'default' }), t, NEW_ID).networkMode, 'bridge');
});

test('host and none modes drop published ports with Docker\'s warning; host mode takes the host\'s name', () => {
  const t = world();
  const host = resolveContainerConfig(req({ networkMode: 'host', portMappings: [PORT] }), t, NEW_ID);
  assert.deepEqual([host.networks, host.portMappings, host.warnings], [[], [], ['Published ports are discarded when using host network mode']]);
  assert.notEqual(host.hostname, 'c');
  const none = resolveContainerConfig(req({ networkMode: 'none' }), t, NEW_ID);
  assert.deepEqual([none.networkMode, none.hostname, none.warnings], ['none', '3f2a9c01d4e5', []]);
});

test('container: mode stores the peer\'s full id and takes its hostname', () => {
  const t = world();
  const c = resolveContainerConfig(req({ networkMode: 'container:bb1' }), t, NEW_ID);
  assert.deepEqual([c.networkMode, c.hostname, c.networks], [`container:${t.bb1.id}`, 'bb1', []]);
});

test('an internal network takes no published ports, with a warning', () => {
  const c = resolveContainerConfig(req({ networkMode: 'backend', portMappings: [PORT] }), world(), NEW_ID);
  assert.deepEqual([c.portMappings, c.warnings], [[], ['Published ports are discarded on the internal network backend']]);
});

test('bad network options are refused with what was wrong', () => {
  const t = world();
  t.networks.pool(t.networks.get('n3').id).reserve(0x0a0a0080); // 10.10.0.128 in use
  const cases: [string, CreateContainerRequest, new (...a: never[]) => Error, RegExp][] = [
    ['unknown network', req({ networkMode: 'nonet' }), NotFoundError, /network "nonet" not found/],
    ['unknown container: peer', req({ networkMode: 'container:nope' }), InvalidArgumentError, /cannot join the network namespace of container "nope": no such container/],
    ['empty container:', req({ networkMode: 'container:' }), InvalidArgumentError, /it names no container/],
    ['--ip on the default bridge', req({ endpoint: { aliases: [], ipv4Address: '172.17.0.9' } }), InvalidArgumentError, /user-specified IP address is supported on user-defined networks only/],
    ['--ip on a pool subnet', req({ networkMode: 'auto', endpoint: { aliases: [], ipv4Address: '172.18.0.9' } }), InvalidArgumentError, /needs a network with a user-configured subnet/],
    ['--ip outside the subnet', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.99.0.5' } }), InvalidArgumentError, /address 10\.99\.0\.5 is outside network n3 \(10\.10\.0\.0\/24\)/],
    ['--ip in use', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.128' } }), ConflictError, /address 10\.10\.0\.128 is already in use/],
    ['--ip = gateway', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.254' } }), ConflictError, /it is the gateway/],
    ['--ip = aux address', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.253' } }), ConflictError, /it is auxiliary address "r"/],
    ['--ip = broadcast', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0.255' } }), InvalidArgumentError, /not a usable address of 10\.10\.0\.0\/24/],
    ['bad --ip', req({ networkMode: 'n3', endpoint: { aliases: [], ipv4Address: '10.10.0' } }), InvalidArgumentError, /invalid IPv4 address "10\.10\.0"/],
    ['multicast MAC', req({ networkMode: 'n3', endpoint: { aliases: [], macAddress: '01:00:5e:00:00:01' } }), InvalidArgumentError, /invalid MAC address "01:00:5e:00:00:01"/],
    ['malformed MAC', req({ endpoint: { aliases: [], macAddress: '02:42:ac' } }), InvalidArgumentError, /invalid MAC address/],
    ['alias on the default bridge', req({ endpoint: { aliases: ['db'] } }), InvalidArgumentError, /aliases are supported only for containers on user-defined networks/],
    ['--ip with host mode', req({ networkMode: 'host', endpoint: { aliases: [], ipv4Address: '10.10.0.9' } }), InvalidArgumentError, /conflicting options: --ip and the host network mode/],
    ['--mac-address with none mode', req({ networkMode: 'none', endpoint: { aliases: [], macAddress: '02:42:ac:12:00:99' } }), InvalidArgumentError, /conflicting options: --mac-address and the none network mode/],
    ['-h with container: mode', req({ networkMode: 'container:bb1', hostname: 'x' }), InvalidArgumentError, /conflicting options: --hostname and network mode container:bb1/],
    ['an all-zero MAC', req({ networkMode: 'n3', endpoint: { aliases: [], macAddress: '00:00:00:00:00:00' } }), InvalidArgumentError, /invalid MAC address "00:00:00:00:00:00"/],
    ['a NUL in Env', req({ env: ['A=1\0B'] }), InvalidArgumentError, /invalid environment variable "A=1\\0B": it holds a NUL character/],
    ['a NUL in Cmd', req({ command: ['sleep', '1\0'] }), InvalidArgumentError, /invalid command argument "1\\0": it holds a NUL character/],
    ['-p with container: mode', req({ networkMode: 'container:bb1', portMappings: [PORT] }), InvalidArgumentError, /conflicting options: port publishing and network mode container:bb1/],
  ];
  for (const [what, request, type, message] of cases) {
    assert.throws(() => resolveContainerConfig(request, t, NEW_ID), (e: unknown) => e instanceof type && message.test(e.message), what);
  }
  // Checking an --ip did not take it.
  assert.equal(t.networks.pool(t.networks.get('n3').id).allocatedCount, 1);
});

test('endpoints: the first network with a way out carries the default route; an internal one never does', () => {
  const t = world();
  const att = (name: string) => ({ networkId: t.networks.get(name).id, aliases: [] });
  const eps = allocateEndpoints(t.networks, [att('backend'), att('n3'), att('bridge')], new Set());
  assert.deepEqual(eps.map((e) => [e.ifname, e.address, e.gatewayEndpoint]), [
    ['eth0', '10.20.0.2', false],
    ['eth1', '10.10.0.128', true],
    ['eth2', '172.17.0.2', false],
  ]);
  assert.equal(nextIfname([{ ifname: 'eth0' }, { ifname: 'eth2' }]), 'eth1');
});

test('allocating endpoints is all or nothing: a static address in use gives back the ones taken', () => {
  const t = world();
  const n3 = t.networks.get('n3').id;
  t.networks.pool(n3).reserve(0x0a0a0009);
  assert.throws(() => allocateEndpoints(t.networks, [{ networkId: t.networks.get('bridge').id, aliases: [] }, { networkId: n3, aliases: [], ipv4Address: '10.10.0.9' }], new Set()), ConflictError);
  assert.equal(t.networks.pool(t.networks.get('bridge').id).allocatedCount, 0);
});

test('the hostname is the id\'s first 12 hex digits, whatever the name (compose\'s proj_web_1, 128 characters), unless one is given', () => {
  const t = world();
  for (const name of ['proj_web_1', 'x'.repeat(128), undefined]) {
    assert.equal(resolveContainerConfig(req({ name }), t, NEW_ID).hostname, '3f2a9c01d4e5', String(name));
  }
  assert.equal(resolveContainerConfig(req({ hostname: 'web_1.example' }), t, NEW_ID).hostname, 'web_1.example');
  assert.throws(() => resolveContainerConfig(req({ hostname: 'a b' }), t, NEW_ID), /invalid hostname "a b"/);
  assert.throws(() => resolveContainerConfig(req({ hostname: 'h'.repeat(5000) }), t, NEW_ID), (e: unknown) => e instanceof Error && e.message.length < 200);
});
